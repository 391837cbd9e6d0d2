#!/usr/bin/perl
# Behaviour: $session->postback() and $session->callback().
#  * Calling a postback posts its event to the session that made it, with
#    ARG0 = [the list given to postback()] and ARG1 = [the call's args]; the
#    call returns 0 and the event arrives later.  SENDER is the session that
#    called the postback.
#  * Calling a callback calls its event at once (same ARG0/ARG1 layout) and
#    returns the handler's value.  SENDER is the session that called it.
#  * Each postback or callback holds a reference (tag 'anon_event') on its
#    session, so a session with nothing else to do stays alive while one
#    exists; once the last one is destroyed, the session is collected at the
#    end of that timeslice.
use strict; use warnings;
use POE;
$| = 1;
sub t { print join(" ", map { defined $_ ? $_ : 'undef' } @_), "\n" }
sub who { my $s = shift; return 'undef' unless defined $s; ref($s) eq 'POE::Kernel' ? 'kernel' : 'S' . $s->ID }

my ($pb, $cb, $owner_id);

POE::Session->create(
  inline_states => {
    _start => sub {
      $owner_id = $_[SESSION]->ID;
      $pb = $_[SESSION]->postback(pb_event => 'ctx-1', 'ctx-2');
      $cb = $_[SESSION]->callback(cb_event => 'ctx-c');
      t("owner _start", who($_[SESSION]), "made a postback and a callback; nothing else keeps it alive");
    },
    pb_event => sub {
      my ($made, $given) = @_[ARG0, ARG1];
      t("owner pb_event ARG0", ref($made), "[@$made]", "ARG1", ref($given), "[@$given]", "sender", who($_[SENDER]));
    },
    cb_event => sub {
      my ($made, $given) = @_[ARG0, ARG1];
      t("owner cb_event ARG0", ref($made), "[@$made]", "ARG1", ref($given), "[@$given]", "sender", who($_[SENDER]));
      return "cb-value-" . $given->[0];
    },
    _stop => sub { t("owner _stop") },
  },
);

POE::Session->create(
  inline_states => {
    _start => sub { $_[KERNEL]->delay(step => 0.02, 1) },
    step => sub {
      my ($k, $n) = @_[KERNEL, ARG0];
      my $alive = defined($k->ID_id_to_session($owner_id)) ? 'yes' : 'no';
      t("user step $n: owner alive?", $alive);
      if ($n == 1) {
        t("user: postback returned", $pb->('arg-a', 'arg-b'));
        t("user: callback returned", $cb->('arg-x'));
        t("user: step 1 ends");
      }
      elsif ($n == 2) {
        undef $pb;
        t("user: postback destroyed");
      }
      elsif ($n == 3) {
        t("user: callback returned", $cb->('arg-y'));
        undef $cb;
        t("user: callback destroyed");
      }
      else {
        return;
      }
      $k->delay(step => 0.02, $n + 1);
    },
    _stop => sub { t("user _stop") },
  },
);
POE::Kernel->run();
t("run returned");
