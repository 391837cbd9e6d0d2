#!/usr/bin/perl
# Behaviour: what a timeslice dispatches.
#  A slice dispatches the queued items that are due at the moment its
#  dispatch loop starts, in due-time order, re-checking the queue after each
#  item.  So a timer set during the slice with a due time already in the
#  past (a negative delay, or an alarm in the past) runs in the same slice,
#  ahead of the events that were already queued (their due time, "now" when
#  they were posted, is later).  Events yielded or posted during the slice,
#  and a delay of 0, are due after the slice began: they wait for the next
#  slice.  Past timers run in due-time order among themselves.
#  (POE::Kernel->run() is called first, with no sessions, to mark run() as
#  called; it returns immediately.)
use strict; use warnings;
use POE;
use Time::HiRes qw(time);
$| = 1;
sub t { print join(" ", map { defined $_ ? $_ : 'undef' } @_), "\n" }

POE::Kernel->run();

POE::Session->create(
  inline_states => {
    _start => sub {
      t("_start yields q1 q2 q3");
      $_[KERNEL]->yield(q => $_) for 1 .. 3;
    },
    q => sub {
      my ($k, $n) = @_[KERNEL, ARG0];
      t("  q$n");
      return unless $n == 1;
      $k->delay(zero => 0);
      $k->yield('yielded');
      $k->delay(negative => -1);
      $k->alarm(past => time() - 10);
      t("  q1 set delay(zero => 0), yield(yielded), delay(negative => -1), alarm(past => now - 10)");
    },
    zero     => sub { t("  zero (delay 0)") },
    yielded  => sub { t("  yielded") },
    negative => sub { t("  negative (delay -1)") },
    past     => sub { t("  past (alarm 10 s ago)") },
    _stop    => sub { t("  _stop") },
  },
);

for my $slice (1 .. 8) {
  t("timeslice $slice");
  my $r = $poe_kernel->run_one_timeslice();
  t("  -> returned", $r);
  last unless $r;
}
