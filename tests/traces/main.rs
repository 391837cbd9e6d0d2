//! POE 1.370's reference traces, ported: each test `tNN_name` prints what
//! the Perl script `perl/NN_name.pl` prints and compares it, byte for byte,
//! with POE's recorded output in `expected/NN_name.out`. Every recorded
//! trace ships with the script that produces it; `perl/run_all.sh --check`
//! re-runs all of them under real POE and compares them with `expected/`.

#[macro_use]
mod harness;

mod t01_post_call_yield_order;
mod t02_yield_fifo_global;
mod t03_call_semantics;
mod t04_post_errors;
mod t05_aliases_api;
mod t06_alias_keeps_alive_idle;
mod t07_default_handler;
mod t08_create_nested_order;
mod t09_child_gain_reparent;
mod t10_stop_order_starvation;
mod t11_stop_order_idle_shutdown;
mod t12_timer_ordering;
mod t13_timer_ids_api;
mod t14_alarm_remove_all;
mod t15_timer_name_vs_id;
mod t16_signal_tree_benign;
mod t17_signal_int_unhandled;
mod t18_signal_int_handled;
mod t19_signal_subtree_term;
mod t20_sig_watchers_no_refcount;
mod t21_die_signal_handled;
mod t22_die_unhandled;
mod t23_detach_myself;
mod t24_detach_child;
mod t25_refcount;
mod t26_state_runtime;
mod t27_select_read_pipe;
mod t29_run_one_timeslice;
mod t30_kernel_stop;
mod t31_ids_sender_accessors;
mod t32_start_stop_retvals;
mod t33_dead_sender_events_purged;
mod t34_idle_zombie;
mod t35_sig_child;
mod t36_postback_callback;
mod t37_uidestroy_nonmaskable;
mod t38_exceptions_call_start;
mod t40_post_keeps_sender_alive;
mod t41_resolution_precedence;
mod t42_past_timer_same_slice;
