#!/usr/bin/perl
# Behaviour: a terminal signal sent to one session of a tree.
#  signal(C, 'TERM') touches C and its descendants only.  Watchers run
#  deepest first (G, then C).  Nobody calls sig_handled(), so the touched
#  sessions are stopped in reverse breadth-first order: G first (C gets
#  _child('lose', G)), then C; C's parent P gets _child('lose', C, <C's _stop
#  value>) and lives on, as does P's other child S, which watches TERM but
#  is not in C's subtree (its watcher does not run).  Pending timers of the
#  stopped sessions are discarded.
use strict; use warnings;
use POE;
$| = 1;
sub t { print join(" ", map { defined $_ ? $_ : 'undef' } @_), "\n" }
sub who { my $s = shift; return 'undef' unless defined $s; ref($s) eq 'POE::Kernel' ? 'kernel' : 'S' . $s->ID }

sub node {
  my ($name, $delay, @kids) = @_;
  POE::Session->create(
    inline_states => {
      _start => sub {
        t("$name _start", who($_[SESSION]));
        $_[KERNEL]->sig(TERM => 'on_term');
        $_[KERNEL]->delay(tick => $delay);
        node(@$_) for @kids;
      },
      on_term => sub { t("$name on_term", $_[ARG0], "sender", who($_[SENDER]), "(not handled)") },
      tick    => sub { t("$name timer fired") },
      _child  => sub { t("$name _child", $_[ARG0], who($_[ARG1]), $_[ARG2]) if $_[ARG0] ne 'create' },
      _stop   => sub { t("$name _stop"); return "$name-stopped" },
    },
  );
}

# P -> C -> G, and P -> S (a sibling of C)
POE::Session->create(
  inline_states => {
    _start => sub {
      t("P _start", who($_[SESSION]));
      $_[HEAP]{c} = node('C', 5, [ 'G', 5 ]);
      node('S', 0.05);
      $_[KERNEL]->delay(send_term => 0.01);
      $_[KERNEL]->delay(later => 0.03);
    },
    send_term => sub { t("P signal(C, TERM) ->", $_[KERNEL]->signal($_[HEAP]{c}, 'TERM')) },
    later     => sub { t("P lives on") },
    _child    => sub { t("P _child", $_[ARG0], who($_[ARG1]), $_[ARG2]) if $_[ARG0] ne 'create' },
    _stop     => sub { t("P _stop") },
  },
);
POE::Kernel->run();
t("run returned");
