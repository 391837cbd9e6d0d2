#!/usr/bin/perl
# Behaviour: detach_child(CHILD).
#  Returns 1 on success: first the caller gets _child('lose', CHILD, undef),
#  then CHILD gets _parent(caller, kernel), both before detach_child returns.
#  Failures return undef: $! = ESRCH when CHILD does not resolve, EPERM when
#  it is not a child of the caller (a grandchild, the caller itself, or an
#  unrelated session).  The kernel gains the child but gets no _child('gain').
#  The detached child no longer keeps its old parent alive: the parent is
#  collected at the end of that timeslice, before its former child, and it
#  hears nothing when that child stops later.
use strict; use warnings;
use POE;
use Errno qw(ESRCH EPERM);
$| = 1;
sub t { print join(" ", map { defined $_ ? $_ : 'undef' } @_), "\n" }
sub who { my $s = shift; return 'undef' unless defined $s; ref($s) eq 'POE::Kernel' ? 'kernel' : 'S' . $s->ID }
sub code { my $n = shift; return 'undef' unless defined $n; $n == 0 ? 0 : $n == ESRCH ? 'ESRCH' : $n == EPERM ? 'EPERM' : $n }

my $other = POE::Session->create(
  inline_states => {
    _start => sub { t("X _start", who($_[SESSION]), "(unrelated)"); $_[KERNEL]->delay(done => 0.05) },
    done   => sub { t("X done") },
    _stop  => sub { t("X _stop") },
  },
);

POE::Session->create(
  inline_states => {
    _start => sub {
      t("P _start", who($_[SESSION]));
      $_[HEAP]{c} = POE::Session->create(
        inline_states => {
          _start => sub {
            t("C _start", who($_[SESSION]));
            $_[HEAP]{g} = POE::Session->create(
              inline_states => {
                _start => sub { t("GC _start", who($_[SESSION])); $_[KERNEL]->delay(done => 0.02) },
                done   => sub { t("GC done") },
                _stop  => sub { t("GC _stop") },
              },
            );
            $_[KERNEL]->delay(done => 0.03);
            return "C-started";
          },
          done    => sub { t("C done, P already gone") },
          _parent => sub { t("C _parent", who($_[ARG0]), "->", who($_[ARG1]), "sender", who($_[SENDER])) },
          _child  => sub { t("C _child", $_[ARG0], who($_[ARG1])) },
          _stop   => sub { t("C _stop") },
        },
      );
      $_[KERNEL]->delay(go => 0.01);
    },
    go => sub {
      my ($k, $c) = @_[KERNEL, HEAP];
      $c = $c->{c};
      my $r;
      $! = 0; $r = $k->detach_child('no-such-alias');  t("P detach_child(unknown alias) ->", $r, code(0 + $!));
      $! = 0; $r = $k->detach_child(9999);             t("P detach_child(unknown id) ->", $r, code(0 + $!));
      $! = 0; $r = $k->detach_child($other);           t("P detach_child(unrelated X) ->", $r, code(0 + $!));
      $! = 0; $r = $k->detach_child($_[SESSION]);      t("P detach_child(itself) ->", $r, code(0 + $!));
      $! = 0; $r = $k->detach_child($c->get_heap->{g}); t("P detach_child(grandchild GC) ->", $r, code(0 + $!));
      t("P detach_child(C) ...");
      $r = $k->detach_child($c);
      t("P detach_child(C) ->", $r);
      t("P go ends");
    },
    _child => sub { t("P _child", $_[ARG0], who($_[ARG1]), $_[ARG2], "sender", who($_[SENDER])) },
    _stop  => sub { t("P _stop") },
  },
);
POE::Kernel->run();
t("run returned");
