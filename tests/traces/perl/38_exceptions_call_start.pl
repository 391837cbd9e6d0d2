#!/usr/bin/perl
# Behaviour: exceptions and synchronous dispatch.
#  * call() to ANOTHER session whose handler dies: the exception is trapped
#    in the callee's dispatch; call() returns undef (and $! = 0); the caller
#    goes on; a DIE signal is queued to the callee (handled later, after the
#    events already queued).
#  * call() to the session ITSELF bypasses the dispatcher: the die
#    propagates straight out of call() into the calling handler, which can
#    catch it with eval.  Left uncaught, it fails the calling handler, whose
#    own dispatch raises DIE for the outer event.
#  * die inside _start: create() still returns the session; the parent still
#    gets _child('create', child, undef); DIE is queued to the new session
#    (and, as DIE goes up to ancestors, its parent's watcher sees it too).
use strict; use warnings;
use POE;
$| = 1;
sub t { print join(" ", map { defined $_ ? $_ : 'undef' } @_), "\n" }
sub who { my $s = shift; return 'undef' unless defined $s; ref($s) eq 'POE::Kernel' ? 'kernel' : 'S' . $s->ID }
sub on_die {
  my $name = shift;
  return sub {
    my $ex = $_[ARG1];
    t("$name DIE handler: event", $ex->{event}, "dest", who($ex->{dest_session}),
      "source", who($ex->{source_session}), "error", $ex->{error_str} =~ s/\n//r, "-> sig_handled");
    $_[KERNEL]->sig_handled();
  };
}

POE::Session->create(
  inline_states => {
    _start => sub { $_[KERNEL]->alias_set('callee'); $_[KERNEL]->sig(DIE => 'die_seen') },
    boom   => sub { t("callee boom: dying"); die "callee failed\n" },
    die_seen => on_die('callee'),
    bye    => sub { $_[KERNEL]->alias_remove('callee') },
    _stop  => sub { t("callee _stop") },
  },
);

POE::Session->create(
  inline_states => {
    _start => sub {
      $_[KERNEL]->sig(DIE => 'die_seen');
      $_[KERNEL]->delay(step1 => 0.01);
    },
    step1 => sub {
      my $k = $_[KERNEL];
      $k->yield('queued_before');
      $! = 1;
      my $r = $k->call(callee => 'boom');
      t("caller: call(callee, boom) returned", $r, "errno", 0 + $!);
      t("caller goes on");
      $k->yield('queued_after');
      $k->delay(step2 => 0.01);
    },
    queued_before => sub { t("caller queued_before") },
    queued_after  => sub { t("caller queued_after") },
    step2 => sub {
      my $k = $_[KERNEL];
      my $r = eval { $k->call($_[SESSION], 'self_boom'); 'no exception' };
      t("caller: eval around call(self, self_boom) gave", defined $r ? $r : 'undef', "error", $@ =~ s/\n//r);
      $k->delay(step3 => 0.01);
    },
    step3 => sub {
      my $k = $_[KERNEL];
      t("caller step3: calling self_boom on itself without eval");
      $k->call($_[SESSION], 'self_boom');
      t("caller step3: not reached");
    },
    self_boom => sub { t("caller self_boom: dying"); die "self failed\n" },
    die_seen  => on_die('caller'),
    _stop => sub { t("caller _stop") },
  },
);

POE::Session->create(
  inline_states => {
    _start => sub {
      $_[KERNEL]->sig(DIE => 'die_seen');
      $_[KERNEL]->delay(make_child => 0.05);
    },
    make_child => sub {
      my $child = POE::Session->create(
        inline_states => {
          _start => sub {
            $_[KERNEL]->sig(DIE => 'child_die_seen');
            t("child _start", who($_[SESSION]), "dies");
            die "start failed\n";
          },
          child_die_seen => sub { t("child DIE handler: event", $_[ARG1]{event}, "(not handled here)") },
          _stop => sub { t("child _stop"); return 'child-stopped' },
        },
      );
      t("parent: create returned", ref($child), who($child));
      $_[KERNEL]->delay(finish => 0.02);
    },
    finish   => sub { $_[KERNEL]->post(callee => 'bye') },
    _child   => sub { t("parent _child", $_[ARG0], who($_[ARG1]), $_[ARG2]) },
    die_seen => on_die('parent'),
    _stop    => sub { t("parent _stop") },
  },
);
POE::Kernel->run();
t("run returned");
