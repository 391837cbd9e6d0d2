//! Every opcode, both ways, and the images Storable 3.26 wrote for the
//! module's examples.

use roe_engine::{KernelId, Map, SessionId, Str, Value};

use super::{
    MAX_DEPTH, Reason, StorableError, Tree, nfreeze, nfreeze_into, nfreeze_tree_into, thaw,
};

/// Bytes from hex digits, spaces ignored.
fn h(hex: &str) -> Vec<u8> {
    let digits: Vec<u8> = hex.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    digits
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
        .collect()
}

fn s(text: &str) -> Value {
    Value::from(text)
}

fn list(items: Vec<Value>) -> Value {
    Value::List(items)
}

fn map(entries: &[(&str, Value)]) -> Value {
    Value::Map(
        entries
            .iter()
            .map(|(k, v)| (Str::new(k), v.clone()))
            .collect::<Map>(),
    )
}

/// Decodes `hex`, after the header `05 0b`.
fn thawed(hex: &str) -> Result<Value, StorableError> {
    thaw(&h(&format!("050b {hex}")))
}

fn reason(hex: &str) -> Reason {
    thawed(hex).unwrap_err().reason().clone()
}

#[test]
fn examples_from_storable_decode_and_encode_byte_for_byte() {
    let cases = [
        (
            "050b 03 00000001 08 81 00000001 61",
            map(&[("a", Value::Int(1))]),
        ),
        (
            "050b 02 00000005 0a 01 78 09 0000012c 08 7f 0a 03 31 2e 35 05",
            list(vec![
                s("x"),
                Value::Int(300),
                Value::Int(-1),
                s("1.5"),
                Value::Undef,
            ]),
        ),
        ("050b 02 00000001 17 03 e2 98 ba", list(vec![s("\u{263a}")])),
        (
            "050b 19 00 00000001 08 81 01 00000003 e2 98 ba",
            map(&[("\u{263a}", Value::Int(1))]),
        ),
    ];
    for (hex, value) in cases {
        assert_eq!(thaw(&h(hex)).unwrap(), value, "{hex}");
        assert_eq!(nfreeze(&value).unwrap(), h(hex), "{value:?}");
    }
    // The float is written as Perl's text, which nfreeze also does.
    assert_eq!(
        nfreeze(&list(vec![Value::Float(1.5)])).unwrap(),
        h("050b 02 00000001 0a 03 31 2e 35")
    );
}

#[test]
fn a_shared_array_decodes_to_two_copies() {
    // [$a, $a] with $a = [1]: tags 0 root, 1 first reference, 2 the inner
    // array, 3 the 1, 4 the second reference, which refers back to 2.
    let value = thawed("02 00000002 04 02 00000001 08 81 04 00 00000002").unwrap();
    let inner = list(vec![Value::Int(1)]);
    assert_eq!(value, list(vec![inner.clone(), inner]));
}

#[test]
fn back_references_reach_scalars_references_and_hashes() {
    // my $x = 5; [\$x, \$x]: the second reference refers back to the 5.
    assert_eq!(
        thawed("02 00000002 04 08 85 04 00 00000002").unwrap(),
        list(vec![Value::Int(5), Value::Int(5)])
    );
    // A back-reference to the first reference itself (tag 1).
    assert_eq!(
        thawed("02 00000002 04 0a 01 78 00 00000001").unwrap(),
        list(vec![s("x"), s("x")])
    );
    // { a => $h, b => $h } with $h = { k => 1 }: values come before keys.
    let inner = map(&[("k", Value::Int(1))]);
    assert_eq!(
        thawed("03 00000002 04 03 00000001 08 81 00000001 6b 00000001 61 00 00000001 00000001 62")
            .unwrap(),
        map(&[("a", inner.clone()), ("b", inner)])
    );
}

#[test]
fn cycles_and_unseen_tags_are_refused() {
    // $h->{me} = $h: the reference inside the root refers back to tag 0.
    let err = thawed("03 00000001 04 00 00000000 00000002 6d 65").unwrap_err();
    assert_eq!(err.reason(), &Reason::Cycle { tag: 0 });
    assert_eq!(err.offset(), 8);
    // $x = \$x frozen as \$x: the reference refers back to itself.
    assert_eq!(reason("04 00 00000000"), Reason::Cycle { tag: 0 });
    // Tag 1 is the array being read.
    assert_eq!(
        reason("02 00000001 04 02 00000001 00 00000001"),
        Reason::Cycle { tag: 1 }
    );
    assert_eq!(
        reason("02 00000001 00 00000001"),
        Reason::UnknownTag { tag: 1 }
    );
    assert_eq!(reason("00 00000000"), Reason::UnknownTag { tag: 0 });
    assert_eq!(
        reason("02 00000001 00 ffffffff"),
        Reason::UnknownTag { tag: 0xffff_ffff }
    );
}

#[test]
fn scalars_decode_by_opcode() {
    let cases = [
        ("05", Value::Undef),
        ("0e", Value::Undef),
        ("1f", Value::Undef),
        ("0f", Value::Bool(true)),
        ("10", Value::Bool(false)),
        ("22", Value::Bool(true)),
        ("23", Value::Bool(false)),
        ("08 00", Value::Int(-128)),
        ("08 80", Value::Int(0)),
        ("08 ff", Value::Int(127)),
        ("09 80000000", Value::Int(i64::from(i32::MIN))),
        ("09 7fffffff", Value::Int(i64::from(i32::MAX))),
        ("09 ffffff7f", Value::Int(-129)),
        ("0a 00", s("")),
        ("0a 03 616263", s("abc")),
        ("01 00000003 616263", s("abc")),
        ("0a 04 636166e9", Value::Bytes(b"caf\xe9".to_vec())),
        // Valid UTF-8 without the flag is still bytes: see the module docs.
        ("0a 05 636166c3a9", Value::Bytes(b"caf\xc3\xa9".to_vec())),
        ("0a 02 00ff", Value::Bytes(vec![0, 0xff])),
        ("17 05 636166c3a9", s("café")),
        ("18 00000005 636166c3a9", s("café")),
        ("17 00", s("")),
        // References are transparent, weak ones too.
        ("04 0a 01 78", s("x")),
        ("04 04 08 81", Value::Int(1)),
        ("1b 08 81", Value::Int(1)),
        ("02 00000000", list(vec![])),
        ("03 00000000", map(&[])),
        ("19 00 00000000", map(&[])),
    ];
    for (hex, value) in cases {
        assert_eq!(thawed(hex).unwrap(), value, "{hex}");
    }
}

#[test]
fn long_strings_use_32_bit_lengths() {
    let text = "y".repeat(300);
    let mut image = h("050b 01 0000012c");
    image.extend_from_slice(text.as_bytes());
    assert_eq!(thaw(&image).unwrap(), s(&text));
    let mut image = h("050b 18 0000012c");
    image.extend_from_slice(text.as_bytes());
    assert_eq!(thaw(&image).unwrap(), s(&text));
}

#[test]
fn hash_keys_follow_their_flags() {
    // Without the flag a key is Latin-1: 0xe9 is "é".
    assert_eq!(
        thawed("03 00000001 08 81 00000001 e9").unwrap(),
        map(&[("é", Value::Int(1))])
    );
    // Storable's "was UTF-8" flag (0x02) on a Latin-1 key, as Perl writes
    // { "é" => 1 } for a character key.
    assert_eq!(
        thawed("19 00 00000001 08 81 02 00000001 e9").unwrap(),
        map(&[("é", Value::Int(1))])
    );
    // A restricted hash (hash flag 1) with a placeholder (key flag 0x10).
    assert_eq!(
        thawed("19 01 00000002 08 81 04 00000001 61 0e 14 00000001 62").unwrap(),
        map(&[("a", Value::Int(1))])
    );
    assert_eq!(
        reason("19 00 00000001 08 81 08 00000001 61"),
        Reason::KeyAsScalar
    );
    let err = thawed("19 00 00000001 08 81 01 00000002 61 ff").unwrap_err();
    assert_eq!((err.offset(), err.reason()), (16, &Reason::InvalidUtf8));
    // A later duplicate key wins, as in Perl.
    assert_eq!(
        thawed("03 00000002 08 81 00000001 61 08 82 00000001 61").unwrap(),
        map(&[("a", Value::Int(2))])
    );
}

#[test]
fn invalid_utf8_in_a_flagged_string_is_refused_where_it_starts() {
    // A surrogate, as Perl's extended UTF-8 writes chr(0xD800).
    let err = thawed("17 04 61 eda080").unwrap_err();
    assert_eq!((err.offset(), err.reason()), (5, &Reason::InvalidUtf8));
}

#[test]
fn header_is_network_order_format_2() {
    assert_eq!(thaw(&h("05 0b 08 81")).unwrap(), Value::Int(1));
    // Any minor version, as Perl's accept_future_minor.
    assert_eq!(thaw(&h("05 07 08 81")).unwrap(), Value::Int(1));
    assert_eq!(thaw(&h("05 ff 08 81")).unwrap(), Value::Int(1));
    // freeze rather than nfreeze: native order.
    let err = thaw(&h("04 0b 08 81")).unwrap_err();
    assert_eq!(
        (err.offset(), err.reason()),
        (0, &Reason::NotNetworkOrder { found: 4 })
    );
    assert_eq!(thaw(&[]).unwrap_err().reason(), &Reason::Truncated);
    assert_eq!(thaw(&[5]).unwrap_err().reason(), &Reason::Truncated);
    assert_eq!(thaw(&[5, 11]).unwrap_err().reason(), &Reason::Truncated);
    let err = thaw(&h("05 0b 08 81 00 00")).unwrap_err();
    assert_eq!(
        (err.offset(), err.reason()),
        (4, &Reason::TrailingBytes { count: 2 })
    );
}

#[test]
fn what_roe_does_not_decode_is_named() {
    for opcode in [
        0x06, 0x07, 0x0b, 0x0c, 0x0d, 0x13, 0x14, 0x15, 0x16, 0x1a, 0x1c, 0x1d, 0x1e, 0x20, 0x21,
    ] {
        let err = thaw(&[5, 11, 2, 0, 0, 0, 1, opcode]).unwrap_err();
        assert_eq!(err.offset(), 7);
        assert!(
            matches!(err.reason(), Reason::Unsupported { opcode: o, .. } if *o == opcode),
            "{opcode:#x}: {err}"
        );
    }
    for opcode in [0x24, 0x80, 0xff] {
        assert_eq!(
            thaw(&[5, 11, opcode]).unwrap_err(),
            StorableError::new(2, Reason::UnknownOpcode { opcode })
        );
    }
    let err = thawed("03 00000001 11 03 466f6f 03 00000000 00000001 61").unwrap_err();
    assert_eq!(err.offset(), 7);
    assert_eq!(
        err.reason(),
        &Reason::Blessed {
            class: "Foo".into()
        }
    );
    assert_eq!(
        err.to_string(),
        "Storable image, offset 7: an object blessed into Foo is not supported"
    );
    // A class name of 128 bytes or more: the length byte's top bit, then a
    // 32-bit length.
    let mut image = h("050b 11 80 00000080");
    image.extend_from_slice(&[b'A'; 128]);
    image.extend_from_slice(&h("02 00000000"));
    let err = thaw(&image).unwrap_err();
    assert_eq!(
        err.reason(),
        &Reason::Blessed {
            class: "A".repeat(128)
        }
    );
    assert_eq!(
        reason("12 00 02 00000000"),
        Reason::Blessed {
            class: "class #0".into()
        }
    );
}

#[test]
fn truncation_anywhere_is_an_error() {
    let image = h(
        "050b 03 00000002 04 02 00000002 0a 01 78 17 02 c3a9 00000001 61 01 00000001 7a 00000001 62",
    );
    assert!(thaw(&image).is_ok());
    for len in 0..image.len() {
        let err = thaw(&image[..len]).unwrap_err();
        assert!(
            matches!(
                err.reason(),
                Reason::Truncated | Reason::TooManyElements { .. }
            ),
            "{len}: {err}"
        );
    }
}

#[test]
fn hostile_counts_are_refused_before_any_reservation() {
    assert_eq!(
        reason("02 7fffffff 05"),
        Reason::TooManyElements { count: 0x7fff_ffff }
    );
    assert_eq!(
        reason("03 00000002 05 00000000"),
        Reason::TooManyElements { count: 2 }
    );
    assert_eq!(reason("02 80000000"), Reason::TooLong { len: 0x8000_0000 });
    assert_eq!(reason("01 7fffffff 61"), Reason::Truncated);
    // The outer array still needs a byte for its second element.
    assert_eq!(
        reason("02 00000002 04 02 00000002 05 05"),
        Reason::TooManyElements { count: 2 }
    );
}

#[test]
fn nesting_is_bounded() {
    fn nested(levels: usize) -> Value {
        (0..levels).fold(Value::Int(1), |inner, _| list(vec![inner]))
    }
    // 128 arrays: the top level's, and 127 behind a reference each.
    let deepest = nested(128);
    let image = nfreeze(&deepest).unwrap();
    assert_eq!(thaw(&image).unwrap(), deepest);
    let err = nfreeze(&nested(129)).unwrap_err();
    assert_eq!(err.reason(), &Reason::TooDeep);
    // The same image one level deeper is refused by the decoder too.
    let mut deeper = h("050b 02 00000001 04");
    deeper.extend_from_slice(&image[2..]);
    assert_eq!(thaw(&deeper).unwrap_err().reason(), &Reason::TooDeep);
    // References alone count.
    let mut refs = h("050b");
    refs.extend(std::iter::repeat_n(0x04, MAX_DEPTH));
    refs.extend_from_slice(&[0x08, 0x81]);
    assert_eq!(thaw(&refs).unwrap(), Value::Int(1));
    refs.insert(2, 0x04);
    assert_eq!(thaw(&refs).unwrap_err().reason(), &Reason::TooDeep);
}

#[test]
fn sharing_is_copied_within_a_budget() {
    // Each level's second element refers back to the first's array.
    let image = h("050b 02 00000002 04 02 00000002 08 81 08 81 04 00 00000002");
    let pair = list(vec![Value::Int(1), Value::Int(1)]);
    assert_eq!(thaw(&image).unwrap(), list(vec![pair.clone(), pair]));

    // [$a, $a], $a = [$b, $b], ...: doubling at every level. A few levels
    // decode; thirty would be a billion values from 300 bytes.
    fn bomb(levels: usize) -> Vec<u8> {
        let mut image = h("050b 02 00000002");
        for _ in 1..levels {
            image.extend_from_slice(&h("04 02 00000002"));
        }
        image.extend_from_slice(&h("08 81 08 81"));
        for level in (1..levels).rev() {
            image.extend_from_slice(&h("04 00"));
            image.extend_from_slice(&u32::try_from(2 * level).unwrap().to_be_bytes());
        }
        image
    }
    fn leaves(value: &Value) -> usize {
        match value {
            Value::List(items) => items.iter().map(leaves).sum(),
            _ => 1,
        }
    }
    assert_eq!(leaves(&thaw(&bomb(8)).unwrap()), 256);
    let err = thaw(&bomb(30)).unwrap_err();
    assert_eq!(err.reason(), &Reason::TooMuchSharing);
}

#[test]
fn integers_take_the_smallest_form() {
    let cases = [
        (-128, "08 00"),
        (-1, "08 7f"),
        (0, "08 80"),
        (127, "08 ff"),
        (128, "09 00000080"),
        (-129, "09 ffffff7f"),
        (i64::from(i32::MAX), "09 7fffffff"),
        (i64::from(i32::MIN), "09 80000000"),
        // Beyond 32 bits: decimal text, as nfreeze writes it.
        (2_147_483_648, "0a 0a 32313437343833363438"),
        (i64::MIN, "0a 14 2d39323233333732303336383534373735383038"),
    ];
    for (n, hex) in cases {
        assert_eq!(
            nfreeze(&Value::Int(n)).unwrap(),
            h(&format!("050b {hex}")),
            "{n}"
        );
    }
}

#[test]
fn floats_are_integers_when_integral_and_text_otherwise() {
    let cases: [(f64, &str); 10] = [
        (3.0, "08 83"),
        (-0.0, "08 80"),
        (1_099_511_627_776.0, "1099511627776"),
        (1.5, "1.5"),
        (0.1 + 0.2, "0.30000000000000004"),
        (1e-7, "1e-7"),
        (1e20, "1e20"),
        (f64::INFINITY, "Inf"),
        (f64::NEG_INFINITY, "-Inf"),
        (f64::NAN, "NaN"),
    ];
    for (x, expected) in cases {
        let image = nfreeze(&Value::Float(x)).unwrap();
        if let Some(hex) = expected.strip_prefix("08 ") {
            assert_eq!(image, h(&format!("050b 08 {hex}")), "{x}");
        } else {
            let mut want = h("050b 0a");
            want.push(expected.len() as u8);
            want.extend_from_slice(expected.as_bytes());
            assert_eq!(image, want, "{x}");
        }
    }
}

#[test]
fn booleans_are_perls_one_and_empty_string() {
    assert_eq!(nfreeze(&Value::Bool(true)).unwrap(), h("050b 08 81"));
    assert_eq!(nfreeze(&Value::Bool(false)).unwrap(), h("050b 0a 00"));
}

#[test]
fn strings_switch_to_32_bit_lengths_at_256_bytes() {
    for (len, short) in [(0, true), (255, true), (256, false), (70_000, false)] {
        let ascii = "a".repeat(len);
        let image = nfreeze(&s(&ascii)).unwrap();
        assert_eq!(image[2], if short { 0x0a } else { 0x01 }, "{len}");
        assert_eq!(image.len(), 2 + if short { 2 } else { 5 } + len);
        assert_eq!(thaw(&image).unwrap(), s(&ascii));

        let bytes = Value::Bytes(vec![0xe9; len]);
        let image = nfreeze(&bytes).unwrap();
        assert_eq!(image[2], if short { 0x0a } else { 0x01 }, "{len}");
        let back = thaw(&image).unwrap();
        if len == 0 {
            // No byte above 0x7F: text.
            assert_eq!(back, s(""));
        } else {
            assert_eq!(back, bytes);
        }
    }
    // UTF-8: the byte length counts, not the characters.
    for (chars, short) in [(127, true), (128, false)] {
        let text = format!("{}x", "é".repeat(chars));
        let image = nfreeze(&s(&text)).unwrap();
        assert_eq!(image[2], if short { 0x17 } else { 0x18 }, "{chars}");
        assert_eq!(thaw(&image).unwrap(), s(&text));
    }
    // ASCII bytes come back as text: Perl cannot tell them apart.
    assert_eq!(
        thaw(&nfreeze(&Value::Bytes(b"ab".to_vec())).unwrap()).unwrap(),
        s("ab")
    );
}

#[test]
fn maps_flag_their_keys_only_when_one_is_not_ascii() {
    let plain = map(&[("a", Value::Int(1)), ("b", list(vec![]))]);
    assert_eq!(
        nfreeze(&plain).unwrap(),
        h("050b 03 00000002 08 81 00000001 61 04 02 00000000 00000001 62")
    );
    let flagged = map(&[("a", Value::Int(1)), ("é", Value::Undef)]);
    assert_eq!(
        nfreeze(&flagged).unwrap(),
        h("050b 19 00 00000002 08 81 00 00000001 61 05 01 00000002 c3a9")
    );
    assert_eq!(thaw(&nfreeze(&flagged).unwrap()).unwrap(), flagged);
}

#[test]
fn nested_values_round_trip() {
    let value = map(&[
        ("event", s("ping")),
        (
            "params",
            list(vec![
                Value::Int(-5),
                s("☺"),
                Value::Undef,
                map(&[("k", list(vec![]))]),
            ]),
        ),
        ("raw", Value::Bytes(vec![0, 0x80, 0xff])),
    ]);
    assert_eq!(thaw(&nfreeze(&value).unwrap()).unwrap(), value);
    // A scalar at the top level has no reference either.
    assert_eq!(nfreeze(&s("x")).unwrap(), h("050b 0a 01 78"));
    assert_eq!(nfreeze(&Value::Undef).unwrap(), h("050b 05"));
}

#[test]
fn sessions_and_locals_have_no_perl_form() {
    let session = Value::Session(SessionId::from_number(KernelId(0), 3));
    let err = nfreeze(&list(vec![Value::Int(1), session])).unwrap_err();
    assert_eq!(err.offset(), 9);
    assert_eq!(
        err.reason(),
        &Reason::NotPortable {
            what: "a session reference"
        }
    );
    let err = nfreeze(&map(&[("x", Value::local(1u8))])).unwrap_err();
    assert_eq!(
        (err.offset(), err.reason()),
        (
            7,
            &Reason::NotPortable {
                what: "a local value"
            }
        )
    );

    let mut out = b"head".to_vec();
    let err = nfreeze_into(&list(vec![Value::local(1u8)]), &mut out).unwrap_err();
    assert_eq!(out, b"head");
    assert_eq!(err.offset(), 7);
}

/// The image of `tree`, or its error, as `nfreeze_tree_into` writes it
/// after `before`.
fn tree_image(tree: &Tree<'_>) -> Result<Vec<u8>, StorableError> {
    let mut out = b"before".to_vec();
    let result = nfreeze_tree_into(tree, &mut out);
    match result {
        Ok(()) => Ok(out.split_off(6)),
        Err(error) => {
            assert_eq!(out, b"before");
            Err(error)
        }
    }
}

#[test]
fn a_tree_freezes_as_the_value_it_stands_for() {
    let list = Value::List(vec![s("x"), Value::Int(300)]);
    let mut inner = Map::new();
    inner.insert("é".into(), Value::Undef);
    let map = Value::Map(inner);
    let trees = [
        Tree::Borrowed(&list),
        Tree::Owned(s("scalar")),
        Tree::List(vec![Tree::Borrowed(&map), Tree::Owned(Value::Int(1))]),
        // A non-ASCII key flags the hash, as a Map's does.
        Tree::Hash(
            [
                ("params", Tree::Borrowed(&list)),
                ("é", Tree::List(vec![Tree::Borrowed(&map)])),
                ("event", Tree::Owned(s("poe://k/s/t"))),
            ]
            .into(),
        ),
        Tree::Hash([("a", Tree::Hash([("b", Tree::Borrowed(&map))].into()))].into()),
    ];
    for tree in &trees {
        assert_eq!(tree_image(tree), nfreeze(&tree.to_value()), "{tree:?}");
    }
    // Depth counts the same, whichever part of the tree nests.
    let mut deep = Value::Undef;
    for _ in 0..MAX_DEPTH / 2 {
        deep = Value::List(vec![deep]);
    }
    let tree = Tree::List(vec![Tree::Borrowed(&deep)]);
    let error = tree_image(&tree).unwrap_err();
    assert_eq!(Err(error), nfreeze(&tree.to_value()));
    // A session is refused where it lies.
    let session = Value::Session(SessionId::from_number(KernelId(1), 2));
    let tree = Tree::Hash([("s", Tree::Borrowed(&session))].into());
    assert_eq!(tree_image(&tree), nfreeze(&tree.to_value()));
    assert!(tree_image(&tree).is_err());
}
