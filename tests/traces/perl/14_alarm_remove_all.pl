#!/usr/bin/perl
# Behaviour: alarm_remove_all().
#  It removes every timer of the calling session, whatever API set it, and
#  returns them in due-time order.  Each item is [name, due_time, @args]:
#  the args are flattened into the item (alarm_remove gives \@args instead;
#  the POD says both look alike).  In list context it returns the list of
#  items, in scalar context an arrayref of them; with no timers, an empty
#  list.  Events posted or yielded to the session are not timers: they stay
#  queued and are delivered.  Other sessions' timers are not touched.
#  Absolute times far in the future are used so the printed numbers are exact.
#  (POE 1.370 reports a due time of 0 for timers set with delay() or
#  delay_add(), which do not record a wall-clock time; this script prints due
#  times only for alarm(), alarm_add(), alarm_set() and delay_set() timers.)
use strict; use warnings;
use POE;
use Time::HiRes qw(time);
$| = 1;
sub t { print join(" ", map { defined $_ ? $_ : 'undef' } @_), "\n" }

my $T = 4_000_000_000;   # year 2096; never fires during this script
my $before;              # time() just before the delay_set() call

sub item {
  my $it = shift;
  my ($name, $due, @args) = @$it;
  my @due;
  if ($name =~ /^alarm/) { @due = ("time-T", $due - $T) }
  elsif ($name eq 'delay_set') {
    @due = ("due-now within [999.9,1000.1]:", ($due - $before > 999.9 && $due - $before < 1000.1) ? 'yes' : 'no');
  }
  t("  item", $name, @due, "size", scalar(@$it), "args [@args]",
    "item[2] is", (ref($it->[2]) || (defined $it->[2] ? 'a plain value' : 'absent')));
}

POE::Session->create(
  inline_states => {
    _start => sub { $_[KERNEL]->delay(other_timer => 0.05) },
    other_timer => sub { t("other session's timer still fires") },
  },
);

POE::Session->create(
  inline_states => {
    _start => sub {
      my $k = $_[KERNEL];
      $k->yield(posted => 'yield-1');
      $k->alarm_set(alarm_set => $T + 20, 'a', 'b', 'c');
      $k->alarm(alarm => $T + 10, 'x');
      $k->alarm_add(alarm_add => $T + 30);
      $k->post($_[SESSION], posted => 'post-2');
      $before = time();
      $k->delay_set(delay_set => 1000, 'd1', 'd2');
      $k->delay(delay => 0.01, 'would fire');

      my @all = $k->alarm_remove_all();
      t("list context: alarm_remove_all returned", scalar(@all), "items; item refs:", join(",", map { ref } @all));
      item($_) for @all;

      $k->alarm_add(alarm_add_2 => $T + 1, 'p', 'q');
      $k->delay_add(delay_add => 1000);
      my $r = $k->alarm_remove_all();
      t("scalar context: alarm_remove_all returned", ref($r), "of", scalar(@$r), "items; item refs:", join(",", map { ref } @$r));
      item($_) for @$r;

      my @none = $k->alarm_remove_all();
      t("with no timers left: returned", scalar(@none), "items");
    },
    posted => sub { t("posted event still delivered:", $_[ARG0]) },
    delay  => sub { t("removed timer fired (should not happen)") },
    _stop  => sub { t("_stop") },
  },
);
POE::Kernel->run();
t("run returned");
