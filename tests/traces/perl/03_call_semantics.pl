#!/usr/bin/perl
# Behaviour: details of call().
#  * call() passes its own calling context (list, scalar or void) through to
#    the handler; posted, yielded and timer events run in void context;
#    _start and _stop run in scalar context (their values are used).
#  * call() returns the handler's value and sets $! = 0.  A call to an event
#    that has no handler (and no _default) returns undef, and $! is 0 too:
#    the ENOSYS POE sets internally is overwritten.
#  * call() from the main program works before run(): the handler runs at
#    once, with SENDER = the kernel.  A call to the session itself passes the
#    context through as well.
#  (svc keeps only its alias once its timer has fired; IDLE then stops it.)
use strict; use warnings;
use POE;
$| = 1;
sub t { print join(" ", map { defined $_ ? $_ : 'undef' } @_), "\n" }
sub who { my $s = shift; return 'undef' unless defined $s; ref($s) eq 'POE::Kernel' ? 'kernel' : 'S' . $s->ID }
sub ctx { my $w = shift; !defined($w) ? 'void' : $w ? 'list' : 'scalar' }

POE::Session->create(
  inline_states => {
    _start => sub {
      $_[KERNEL]->alias_set('svc');
      t("svc _start runs in", ctx(wantarray), "context");
      $_[KERNEL]->delay(report => 0.05, 'timer');
      return 'svc-started';
    },
    report => sub {
      t("svc report", $_[ARG0], "runs in", ctx(wantarray), "context; sender", who($_[SENDER]));
      return "ret-$_[ARG0]";
    },
    _stop => sub { t("svc _stop runs in", ctx(wantarray), "context") },
  },
);

# From the main program, before run().
$! = 1; my @l = POE::Kernel->call(svc => 'report', 'list-call-from-main');
t("main: list call returned", scalar(@l), "value(s):", @l, "errno", 0 + $!);
$! = 1; my $s = POE::Kernel->call(svc => 'report', 'scalar-call-from-main');
t("main: scalar call returned", $s, "errno", 0 + $!);
$! = 1; POE::Kernel->call(svc => 'report', 'void-call-from-main');
t("main: void call done, errno", 0 + $!);
$! = 1; my $m = POE::Kernel->call(svc => 'no_such_handler');
t("main: call to a missing handler returned", $m, "errno", 0 + $!);
t("main: post ->", POE::Kernel->post(svc => 'report', 'post-from-main'));

POE::Session->create(
  inline_states => {
    _start => sub { $_[KERNEL]->yield('go') },
    go => sub {
      my $k = $_[KERNEL];
      $! = 1; my @l = $k->call(svc => 'report', 'list-call-from-client');
      t("client: list call returned", scalar(@l), "value(s):", @l, "errno", 0 + $!);
      $! = 1; my $s = $k->call(svc => 'report', 'scalar-call-from-client');
      t("client: scalar call returned", $s, "errno", 0 + $!);
      $! = 1; $k->call(svc => 'report', 'void-call-from-client');
      t("client: void call done, errno", 0 + $!);
      $! = 1; my $m = $k->call(svc => 'no_such_handler');
      t("client: call to a missing handler returned", $m, "errno", 0 + $!);
      $! = 1; @l = $k->call($_[SESSION], 'mine', 'list-call-to-self');
      t("client: list call to self returned", scalar(@l), "value(s):", @l, "errno", 0 + $!);
      $! = 1; $s = $k->call($_[SESSION], 'mine', 'scalar-call-to-self');
      t("client: scalar call to self returned", $s, "errno", 0 + $!);
      $k->yield(mine => 'yield-to-self');
      $k->post(svc => 'report', 'post-from-client');
    },
    mine => sub {
      t("client mine", $_[ARG0], "runs in", ctx(wantarray), "context; sender", who($_[SENDER]));
      return "ret-$_[ARG0]";
    },
  },
);
t("before run");
POE::Kernel->run();
t("run returned");
