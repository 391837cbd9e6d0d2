#!/usr/bin/perl
# Behaviour: stopping a session discards every queued event sent *by* it,
# not only the events sent *to* it.
#  * An event posted from a session's _stop handler is never delivered,
#    although post() returned 1 (the session is freed right after _stop).
#  * An event posted by a session that is stopped before the event is
#    dispatched (here by a TERM signal queued ahead of it) is never
#    delivered either.
#  Events the same sessions posted while they were alive, and events posted
#  by other sessions, are delivered normally.
use strict; use warnings;
use POE;
$| = 1;
sub t { print join(" ", map { defined $_ ? $_ : 'undef' } @_), "\n" }
sub who { my $s = shift; return 'undef' unless defined $s; ref($s) eq 'POE::Kernel' ? 'kernel' : 'S' . $s->ID }

POE::Session->create(
  inline_states => {
    _start => sub { $_[KERNEL]->alias_set('recv'); $_[KERNEL]->delay(done => 0.05); t("R _start", who($_[SESSION])) },
    msg    => sub { t("R got msg:", $_[ARG0], "sender", who($_[SENDER])) },
    done   => sub { t("R done"); $_[KERNEL]->alias_remove('recv') },
    _stop  => sub { t("R _stop") },
  },
);

# D1 does nothing; it is collected at the end of the first timeslice.
POE::Session->create(
  inline_states => {
    _start => sub { t("D1 _start", who($_[SESSION])); t("D1 post from _start ->", $_[KERNEL]->post(recv => msg => 'D1 from _start')) },
    _stop  => sub { t("D1 _stop: post ->", $_[KERNEL]->post(recv => msg => 'D1 from _stop (never delivered)')) },
  },
);

# D2 is killed by a TERM queued before the event it posts.
POE::Session->create(
  inline_states => {
    _start => sub {
      $_[KERNEL]->alias_set('d2');
      t("D2 _start", who($_[SESSION]));
      t("D2 post from _start ->", $_[KERNEL]->post(recv => msg => 'D2 from _start'));
    },
    send => sub {
      t("D2 send: post ->", $_[KERNEL]->post(recv => msg => 'D2 from its handler (never delivered)'));
      $_[KERNEL]->yield('never');
    },
    never => sub { t("D2 never (should not happen)") },
    _stop => sub { t("D2 _stop") },
  },
);

POE::Session->create(
  inline_states => {
    _start => sub { $_[KERNEL]->delay(go => 0.01) },
    go => sub {
      my $k = $_[KERNEL];
      t("K signal(d2, TERM) ->", $k->signal(d2 => 'TERM'));
      $k->call(d2 => 'send');
      t("K post ->", $k->post(recv => msg => 'K control message'));
    },
  },
);
POE::Kernel->run();
t("run returned");
