#!/usr/bin/perl
# Behaviour: re-parenting when a session stops while it still has children.
#  When a session P stops with a child still attached (possible when a
#  terminal signal's session list was computed before the child existed),
#  for each such child:  P's parent G gets _child('gain', child) (no ARG2),
#  then the child gets _parent(P, G).  Only then P gets _stop, and G gets
#  _child('lose', P, <P's _stop return value>).  The child lives on under G:
#  when it stops later, G (not P) gets its _child('lose').
#  A child that existed when the signal was dispatched is in the signal's
#  session list, so it is stopped first (deepest first) and is not re-parented.
#  SENDER of _child and _parent is the kernel.
use strict; use warnings;
use POE;
$| = 1;
sub t { print join(" ", map { defined $_ ? $_ : 'undef' } @_), "\n" }
sub who { my $s = shift; return 'undef' unless defined $s; ref($s) eq 'POE::Kernel' ? 'kernel' : 'S' . $s->ID }

sub leaf {
  my ($name, $delay) = @_;
  POE::Session->create(
    inline_states => {
      _start  => sub { t("$name _start", who($_[SESSION]), "parent", who($_[SENDER])); $_[KERNEL]->delay(done => $delay); return "$name-started" },
      done    => sub { t("$name timer fired") },
      _parent => sub { t("$name _parent", who($_[ARG0]), "->", who($_[ARG1]), "sender", who($_[SENDER])) },
      _stop   => sub { t("$name _stop"); return "$name-stopped" },
    },
  );
}

POE::Session->create(
  inline_states => {
    _start => sub {
      t("G _start", who($_[SESSION]));
      $_[HEAP]{p} = POE::Session->create(
        inline_states => {
          _start => sub {
            t("P _start", who($_[SESSION]));
            $_[KERNEL]->sig(TERM => 'on_term');
            leaf('D', 5);
            return "P-started";
          },
          on_term => sub {
            t("P on_term", $_[ARG0], "(not handled); creating C now");
            leaf('C', 0.05);
          },
          _child => sub { t("P _child", $_[ARG0], who($_[ARG1]), $_[ARG2]) },
          _stop  => sub { t("P _stop"); return "P-stopped" },
        },
      );
      $_[KERNEL]->delay(kill_p => 0.01);
    },
    kill_p => sub { t("G signal(P, TERM) ->", $_[KERNEL]->signal($_[HEAP]{p}, 'TERM')) },
    _child => sub { t("G _child", $_[ARG0], who($_[ARG1]), $_[ARG2], "sender", who($_[SENDER])) },
    _stop  => sub { t("G _stop") },
  },
);
POE::Kernel->run();
t("run returned");
