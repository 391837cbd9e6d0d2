#!/usr/bin/perl
# Core Perl's side of roe-ikc's Storable tests (ikc/tests/storable.rs).
#
# Reads one case per line on standard input, tab-separated:
#
#   id  kind  perl-expression  hex-image-from-roe-or-dash
#
# and writes one line per case, tab-separated:
#
#   id  hex-of-nfreeze(expression)-or-ERR:message  verdict...
#
# The verdict judges roe's image: "-" when there is none, "ok" when it
# passes, else "mismatch", what Perl expected and what it got, or
# "thaw-error" and Perl's message. Kind "dump" compares Perl's thaw of roe's
# image with Perl's thaw of its own nfreeze of the expression (so both went
# through Storable: a 64-bit integer, say, is text either way), as canonical
# Data::Dumper text: sorted keys, double-quoted strings, which also tells a
# character string from a byte string. Kind "num" compares the expression,
# an array of numbers, with roe's, by ==, NaN equal to NaN.
#
# Run by hand: perl corpus.pl < cases.tsv
use strict;
use warnings;
use Storable qw(nfreeze thaw);
use Data::Dumper;
use Scalar::Util qw(weaken);
use Hash::Util qw(lock_keys);

$Data::Dumper::Sortkeys = 1;
$Data::Dumper::Useqq    = 1;
$Data::Dumper::Indent   = 0;
$Data::Dumper::Terse    = 1;

binmode STDOUT;
$| = 1;

sub flat { my $s = shift; $s =~ s/[\t\n\r]/ /g; return $s }

sub same_numbers {
    my ($want, $got) = @_;
    return 0 unless ref $got eq 'ARRAY' && @$want == @$got;
    for my $i (0 .. $#$want) {
        my ($w, $g) = ($want->[$i], $got->[$i]);
        next if $w != $w && $g != $g;    # NaN
        return 0 unless $w == $g;
    }
    return 1;
}

while (my $line = <STDIN>) {
    chomp $line;
    next if $line eq '';
    my ($id, $kind, $expr, $hex) = split /\t/, $line, 4;
    my $value = eval $expr;
    die "case $id: $expr: $@" if $@;
    # nfreeze takes a reference; a plain scalar is frozen through one.
    my $root = ref $value ? $value : \$value;
    my $image = eval { nfreeze($root) };
    my $perl = defined $image ? unpack('H*', $image) : 'ERR:' . flat($@);
    my $verdict = '-';
    if (defined $hex && $hex ne '-') {
        my $got = eval { thaw(pack 'H*', $hex) };
        if (!defined $got) {
            $verdict = "thaw-error\t" . flat($@ || 'undef');
        }
        else {
            $got = $$got unless ref $value;
            if ($kind eq 'num') {
                $verdict = same_numbers($value, $got) ? 'ok'
                    : "mismatch\t" . Dumper($value) . "\t" . Dumper($got);
            }
            else {
                my $want = thaw($image);
                $want = $$want unless ref $value;
                my ($w, $g) = (Dumper($want), Dumper($got));
                $verdict = $w eq $g ? 'ok' : "mismatch\t" . flat($w) . "\t" . flat($g);
            }
        }
    }
    print "$id\t$perl\t$verdict\n";
}
