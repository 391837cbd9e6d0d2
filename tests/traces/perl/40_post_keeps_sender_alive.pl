#!/usr/bin/perl
# Behaviour: a queued event holds a reference on its SENDER as well as on
# its destination, until it is dispatched.
#  R1 posts a request from a timer handler and then has nothing left: no
#  timers, no aliases, no children.  The request it sent keeps it alive past
#  the end of that timeslice, so the server's immediate reply (posted while
#  handling the request) reaches it; the reply then keeps it alive until it
#  is delivered.
#  R2 does the same, but the server answers only after a timer.  Once its
#  request has been dispatched R2 holds nothing, so it is collected at the
#  end of that timeslice, and the late reply fails: post() returns undef
#  with $! = ESRCH.
use strict; use warnings;
use POE;
use Errno qw(ESRCH);
$| = 1;
sub t { print join(" ", map { defined $_ ? $_ : 'undef' } @_), "\n" }
sub who { my $s = shift; return 'undef' unless defined $s; ref($s) eq 'POE::Kernel' ? 'kernel' : 'S' . $s->ID }
sub code { my $n = shift; return 'undef' unless defined $n; $n == 0 ? 0 : $n == ESRCH ? 'ESRCH' : $n }

POE::Session->create(
  inline_states => {
    _start  => sub { $_[KERNEL]->alias_set('server'); t("server _start", who($_[SESSION])) },
    request => sub {
      t("server request from", who($_[SENDER]), "- replying now");
      $! = 0; my $r = $_[KERNEL]->post($_[SENDER], reply => 'immediate answer');
      t("server post(reply) ->", $r, code(0 + $!));
    },
    slow_request => sub {
      t("server slow_request from", who($_[SENDER]), "- replying after a timer");
      $_[KERNEL]->delay(answer_later => 0.03, $_[SENDER]);
    },
    answer_later => sub {
      $! = 0; my $r = $_[KERNEL]->post($_[ARG0], reply => 'late answer');
      t("server late post(reply) to", who($_[ARG0]), "->", $r, code(0 + $!));
    },
    _stop => sub { t("server _stop") },
  },
);

sub requester {
  my ($name, $delay, $what) = @_;
  POE::Session->create(
    inline_states => {
      _start => sub { t("$name _start", who($_[SESSION])); $_[KERNEL]->delay(ask => $delay) },
      ask    => sub { t("$name ask: post(server, $what) ->", $_[KERNEL]->post(server => $what)) },
      reply  => sub { t("$name got reply:", $_[ARG0]) },
      _stop  => sub { t("$name _stop") },
    },
  );
}
requester('R1', 0.01, 'request');
requester('R2', 0.05, 'slow_request');
POE::Kernel->run();
t("run returned");
