#!/usr/bin/perl
# Behaviour: the order in which a destination is resolved.
#  A destination is tried as a session (reference or its string), then as a
#  session ID, then as an alias.  So an alias that looks like a number is
#  shadowed by the live session with that ID: alias '1' (held by S2) is
#  unreachable by name while S1 exists; post('1'), alias_resolve('1') and
#  call('1') reach S1.  Once S1 has stopped, the same name reaches S2.
#  Setting the alias '1' is not refused (it is not an alias of anyone else).
#  The kernel's own ID string is in the ID table too, so an alias equal to
#  it is shadowed by the kernel: events posted there go to the kernel, which
#  ignores them.
use strict; use warnings;
use POE;
use Errno qw(ESRCH);
$| = 1;
sub t { print join(" ", map { defined $_ ? $_ : 'undef' } @_), "\n" }
sub who { my $s = shift; return 'undef' unless defined $s; ref($s) eq 'POE::Kernel' ? 'kernel' : 'S' . $s->ID }
sub code { my $n = shift; return 'undef' unless defined $n; $n == 0 ? 0 : $n == ESRCH ? 'ESRCH' : $n }

POE::Session->create(
  inline_states => {
    _start => sub { $_[KERNEL]->alias_set('first'); t("S1 _start id", $_[SESSION]->ID) },
    who    => sub { t("S1 got", $_[ARG0]); return 'S1-answer' },
    quit   => sub { t("S1 quit: removing its alias"); $_[KERNEL]->alias_remove('first') },
    _stop  => sub { t("S1 _stop") },
  },
);

POE::Session->create(
  inline_states => {
    _start => sub {
      my $k = $_[KERNEL];
      t("S2 _start id", $_[SESSION]->ID);
      t("S2 alias_set('1') ->", $k->alias_set('1'));
      t("S2 alias_set(kernel ID) ->", $k->alias_set($k->ID));
      t("S2 alias_list:", scalar(grep { $_ eq '1' } $k->alias_list()) ? "has '1'" : "lacks '1'",
        scalar(grep { $_ eq $k->ID } $k->alias_list()) ? "has kernel ID" : "lacks kernel ID");
    },
    who   => sub { t("S2 got", $_[ARG0]); return 'S2-answer' },
    _stop => sub { t("S2 _stop") },
  },
);

POE::Session->create(
  inline_states => {
    _start => sub { $_[KERNEL]->delay(step1 => 0.01) },
    step1 => sub {
      my $k = $_[KERNEL];
      t("step1: alias_resolve('1') ->", who($k->alias_resolve('1')));
      t("step1: call('1', who) ->", $k->call('1', who => 'call while S1 lives'));
      t("step1: post('1', who) ->", $k->post('1', who => 'post while S1 lives'));
      t("step1: alias_resolve(kernel ID) ->", who($k->alias_resolve($k->ID)));
      t("step1: post(kernel ID, who) ->", $k->post($k->ID, who => 'post to the kernel ID (nobody gets it)'));
      $k->call(first => 'quit');
      $k->delay(step2 => 0.01);
    },
    step2 => sub {
      my $k = $_[KERNEL];
      $! = 0; my $s1 = $k->ID_id_to_session(1);
      t("step2: ID_id_to_session(1) ->", who($s1), code(0 + $!));
      t("step2: alias_resolve('1') ->", who($k->alias_resolve('1')));
      t("step2: call('1', who) ->", $k->call('1', who => 'call after S1 stopped'));
      t("step2: post('1', who) ->", $k->post('1', who => 'post after S1 stopped'));
    },
    _stop => sub { t("S3 _stop") },
  },
);
POE::Kernel->run();
t("run returned");
