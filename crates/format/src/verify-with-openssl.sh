#!/bin/sh
# verify-with-openssl.sh - check a logkeep evidence bundle (format 2) with standard tools only:
# sha256sum, openssl (3.0 or later), zstd, and sed, grep, head, tail, cut, printf, cat, mkdir,
# rm of any POSIX system. logkeep itself is not needed.
#
# Usage:  tar -xf BUNDLE.tar && cd logkeep-bundle-ID && sh verify-with-openssl.sh FINGERPRINT
#
# FINGERPRINT is the root key's fingerprint, received apart from the bundle (by phone, on
# paper). The script checks, and prints as it goes:
#   1. every file against SHA256SUMS;
#   2. every key statement in store/keys.jsonl, from the root of FINGERPRINT to the newest
#      epoch: each signed by the root (an enrolment) or by the epoch before it (a switch);
#   3. every chain record: its link to the record before, every checkpoint's signature with its
#      epoch's key and its head, every switch's head, every segment's hash, zstd integrity;
#   4. the bundle's signature, by the key of the epoch bundle.json names.
# It exits 0 only when all of it checks out, 1 at the first failure (named), 2 on bad usage.
set -u
LC_ALL=C
export LC_ALL

fail() {
    printf 'FAIL %s\n' "$*"
    exit 1
}
say() {
    printf '%s\n' "$*"
}

if [ $# -ne 1 ]; then
    say "usage: sh verify-with-openssl.sh ROOT-FINGERPRINT (run inside the unpacked bundle directory)" >&2
    exit 2
fi
want=$(printf '%s' "$1" | sed 's/[-: ]//g; y/ABCDEF/abcdef/')
if ! printf '%s\n' "$want" | grep -q '^[0-9a-f]\{32\}$'; then
    say "the fingerprint must be 32 hex digits (dashes allowed)" >&2
    exit 2
fi
for f in SHA256SUMS SHA256SUMS.sig signing-key.pub.pem bundle.json store/logkeep-store.json store/keys.jsonl; do
    [ -f "$f" ] || fail "$f: missing (run the script inside the unpacked bundle directory)"
done

tmp="${TMPDIR:-/tmp}/logkeep-verify.$$"
mkdir -m 700 "$tmp" || exit 2
trap 'rm -rf "$tmp"' EXIT
trap 'exit 2' HUP INT TERM

B64='[A-Za-z0-9+/=]*'
HEX='[0-9a-f]\{64\}'

# The DER form of an Ed25519 public key given as base64 of its 32 bytes.
der() {
    {
        printf '\060\052\060\005\006\003\053\145\160\003\041\000'
        printf '%s\n' "$1" | openssl base64 -d -A
    } >"$2"
}
# check SIGNER-B64 SIG-B64 MESSAGE-FILE: whether the signature verifies.
check() {
    der "$1" "$tmp/k.der"
    printf '%s\n' "$2" | openssl base64 -d -A >"$tmp/sig"
    openssl pkeyutl -verify -pubin -inkey "$tmp/k.der" -keyform DER -rawin \
        -in "$3" -sigfile "$tmp/sig" >/dev/null 2>&1
}
fp_of() {
    printf '%s\n' "$1" | openssl base64 -d -A | sha256sum | cut -c1-32
}
sha() {
    sha256sum "$1" | cut -c1-64
}

# 1. Every file against SHA256SUMS.
sha256sum -c --strict --quiet SHA256SUMS || fail "SHA256SUMS: a file does not match its hash (see above)"
say "ok   every file matches SHA256SUMS"

store=$(sed -n 's/^  "store": "\([0-9a-f]*\)",$/\1/p' store/logkeep-store.json | head -n 1)
[ -n "$store" ] || fail "store/logkeep-store.json: no store id"

# 2. The key statements, from the root.
cur_e=0
cur_k=
n=0
: >"$tmp/statements"
while IFS= read -r line; do
    n=$((n + 1))
    printf '%s\n' "$line" >"$tmp/line"
    fields=$(sed -n 's/^{"v":2,"seq":\([0-9]*\),"prev":"[0-9a-f]*","store":"\([0-9a-f]*\)",.*,"event":{"kind":"epoch","epoch":\([0-9]*\),"key":"\('"$B64"'\)","head":\(.*\),"signer_key":"\('"$B64"'\)","sig":"\('"$B64"'\)"}}$/\1 \2 \3 \4 \6 \7/p' "$tmp/line")
    [ -n "$fields" ] || fail "store/keys.jsonl line $n: not a key statement"
    set -- $fields
    seq=$1 st=$2 e=$3 k=$4 signer=$5 sig=$6
    [ "$st" = "$store" ] || fail "store/keys.jsonl line $n: belongs to store $st"
    headjson=$(sed -n 's/.*,"head":\(.*\),"signer_key":"'"$B64"'","sig":"'"$B64"'"}}$/\1/p' "$tmp/line")
    if [ "$headjson" = null ]; then
        head=none
        fp=$(fp_of "$signer")
        [ "$fp" = "$want" ] || fail "store/keys.jsonl line $n (record $seq): epoch $e is enrolled by key $fp, not by the root $want"
        [ "$e" -gt "$cur_e" ] || fail "store/keys.jsonl line $n (record $seq): enrols epoch $e after epoch $cur_e"
    else
        head=$(printf '%s\n' "$headjson" | sed -n 's/^{"seq":\([0-9]*\),"hash":"\('"$HEX"'\)"}$/\1 \2/p')
        [ -n "$head" ] || fail "store/keys.jsonl line $n: bad head"
        [ -n "$cur_k" ] && [ "$signer" = "$cur_k" ] || fail "store/keys.jsonl line $n (record $seq): epoch $e is not signed by epoch $cur_e's key"
        [ "$e" -eq $((cur_e + 1)) ] || fail "store/keys.jsonl line $n (record $seq): epoch $cur_e's key introduces epoch $e"
    fi
    printf 'logkeep epoch\nepoch %s\nkey %s\nhead %s\n' "$e" "$k" "$head" >"$tmp/msg"
    check "$signer" "$sig" "$tmp/msg" || fail "store/keys.jsonl line $n (record $seq): the statement of epoch $e does not verify"
    printf '%s\n' "$k" >"$tmp/key.$e"
    printf '%s %s %s %s\n' "$seq" "$(sha "$tmp/line")" "$e" "$head" >>"$tmp/statements"
    cur_e=$e
    cur_k=$k
done <store/keys.jsonl
[ "$cur_e" -gt 0 ] || fail "store/keys.jsonl: no key statement"
say "ok   $n key statement(s) from root $want up to epoch $cur_e"

# 3. The chain.
first=$(sed -n 's/^  "first_seq": \([0-9]*\),$/\1/p' bundle.json | head -n 1)
[ -n "$first" ] || fail "bundle.json: no first_seq"
epoch_now=0
while read -r s h e rest; do
    [ "$s" -lt "$first" ] && epoch_now=$e
done <"$tmp/statements"
prev_seq=
prev_hash=
proven=0
sealed=0
proven_e=0
proven_t=
records=0
for f in store/chain/*.json; do
    [ -f "$f" ] || fail "store/chain: no record"
    grep -q "^$HEX  $f\$" SHA256SUMS || fail "$f: not listed in SHA256SUMS"
    fields=$(sed -n 's/^{"v":2,"seq":\([0-9]*\),"prev":"\('"$HEX"'\)","store":"\([0-9a-f]*\)","wall":"\([^"]*\)",.*/\1 \2 \3 \4/p' "$f")
    [ -n "$fields" ] || fail "$f: not a format 2 record"
    set -- $fields
    seq=$1 prev=$2 st=$3 wall=$4
    h=$(sha "$f")
    records=$((records + 1))
    [ "$st" = "$store" ] || fail "$f: belongs to store $st"
    if [ -n "$prev_seq" ]; then
        [ "$seq" -eq $((prev_seq + 1)) ] || fail "$f: record $seq follows record $prev_seq"
        [ "$prev" = "$prev_hash" ] || fail "$f: broken link: prev is $prev but record $prev_seq hashes to $prev_hash (records from $((sealed + 1)) on are not proven)"
    else
        [ "$seq" -eq "$first" ] || fail "$f: the chain starts at record $seq, bundle.json says $first"
        if [ "$seq" -eq 1 ]; then
            [ "$prev" = 0000000000000000000000000000000000000000000000000000000000000000 ] || fail "$f: record 1 names a predecessor"
        fi
    fi
    case $(cat "$f") in
    *'"event":{"kind":"epoch",'*)
        line=$(grep -n "^$seq $h " "$tmp/statements" | head -n 1)
        [ -n "$line" ] || fail "$f: a key statement that store/keys.jsonl does not hold (records from $((sealed + 1)) on are not proven)"
        set -- $(printf '%s\n' "$line" | cut -d: -f2-)
        epoch_now=$3
        if [ "$4" != none ]; then
            hs=$4 hh=$5
            hf=store/chain/$(printf '%016d' "$hs").json
            if [ -f "$hf" ]; then
                [ "$(sha "$hf")" = "$hh" ] || fail "$hf: changed: the switch to epoch $3 (record $seq) names it with hash $hh (epoch $((epoch_now - 1)); records from $((sealed + 1)) on are not proven)"
            fi
        fi
        ;;
    *'"event":{"kind":"checkpoint",'*)
        cp=$(sed -n 's/.*,"event":{"kind":"checkpoint","epoch":\([0-9]*\),"head":{"seq":\([0-9]*\),"hash":"\('"$HEX"'\)"},"sig":"\('"$B64"'\)"}}$/\1 \2 \3 \4/p' "$f")
        [ -n "$cp" ] || fail "$f: not a checkpoint"
        set -- $cp
        ce=$1 cs=$2 ch=$3 csig=$4
        if [ -n "$prev_seq" ]; then
            [ "$ce" = "$epoch_now" ] || fail "$f: a checkpoint of epoch $ce, but the current epoch is $epoch_now (records from $((sealed + 1)) on are not proven)"
            [ "$cs" = "$prev_seq" ] && [ "$ch" = "$prev_hash" ] || fail "$f: the checkpoint names record $cs ($ch), not the record before it (epoch $ce; records from $((sealed + 1)) on are not proven)"
            printf 'logkeep checkpoint\nstore %s\nepoch %s\nhead %s %s\ntime %s\n' "$store" "$ce" "$cs" "$ch" "$wall" >"$tmp/msg"
            check "$(cat "$tmp/key.$ce")" "$csig" "$tmp/msg" || fail "$f: the checkpoint does not verify with epoch $ce's key: record $((sealed + 1)) or one after it up to $cs was changed (epoch $ce)"
            proven=$cs
            proven_e=$ce
            proven_t=$wall
            sealed=$seq
        fi
        ;;
    *'"event":{"kind":"segment",'*)
        sf=$(sed -n 's/.*,"event":{"kind":"segment","file":"\([0-9]*-[0-9a-f]*\.tar\.zst\)","sha256":"\('"$HEX"'\)",.*/\1 \2/p' "$f")
        [ -n "$sf" ] || fail "$f: not a segment record"
        set -- $sf
        if [ -f "store/segments/$1" ]; then
            [ "$(sha "store/segments/$1")" = "$2" ] || fail "store/segments/$1: does not hash to what record $seq says"
            zstd -q -t "store/segments/$1" 2>/dev/null || fail "store/segments/$1: damaged zstd stream"
        fi
        ;;
    esac
    prev_seq=$seq
    prev_hash=$h
done
# 4. The bundle's signature, by the epoch bundle.json names.
be=$(sed -n 's/^    "epoch": \([0-9]*\)$/\1/p' bundle.json | head -n 1)
[ -n "$be" ] && [ -f "$tmp/key.$be" ] || fail "bundle.json: signed by epoch '$be', which no key statement introduces"
openssl pkey -pubin -in signing-key.pub.pem -outform DER 2>/dev/null | tail -c 32 >"$tmp/a" || fail "signing-key.pub.pem: not a public key"
openssl base64 -d -A <"$tmp/key.$be" >"$tmp/b"
[ "$(sha256sum <"$tmp/a")" = "$(sha256sum <"$tmp/b")" ] || fail "signing-key.pub.pem: not the key of epoch $be"
printf 'logkeep bundle\nepoch %s\nsums %s\n' "$be" "$(sha SHA256SUMS)" >"$tmp/msg"
openssl pkeyutl -verify -pubin -inkey signing-key.pub.pem -rawin -in "$tmp/msg" \
    -sigfile SHA256SUMS.sig >/dev/null 2>&1 || fail "SHA256SUMS.sig: does not verify with epoch $be's key"
say "ok   SHA256SUMS is signed by epoch $be's key"

say "ok   $records chain record(s) linked, from $first to $prev_seq"
if [ "$proven" -eq 0 ]; then
    fail "store/chain: no checkpoint: nothing in this bundle is proven by a seal"
fi
say "ok   proven up to record $proven (checkpoint of epoch $proven_e at $proven_t)"
if [ "$sealed" -lt "$prev_seq" ]; then
    say "note records $((sealed + 1)) to $prev_seq come after the last checkpoint: not sealed yet (the unsealed tail)"
fi
say "OK: the bundle verified against root $want"
exit 0
