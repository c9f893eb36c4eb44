package redismcpws

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// slot is the Redis Cluster hash slot of key: CRC16 (XMODEM) of its hash
// tag (the text between the first "{" and the next "}", if not empty) or
// of the whole key, modulo 16384 (Redis Cluster specification).
func slot(key string) int {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			key = key[i+1 : i+1+j]
		}
	}
	var crc uint16
	for _, b := range []byte(key) {
		crc ^= uint16(b) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return int(crc) % 16384
}

// limitsOn returns Limits on a Store with prefix, for naming keys only.
func limitsOn(t *testing.T, prefix string) *Limits {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}) // never dialled
	t.Cleanup(func() { rdb.Close() })
	return &Limits{ks: newKeyspace("limitsOn", rdb, prefix)}
}

// The keys one script reads together share a Cluster slot; everything
// else spreads: identities' lease sets, rate counts per (rate, key), and
// endpoints of different prefixes, whose prefix is inside the hash tag.
func TestKeySlots(t *testing.T) {
	if got := slot("123456789"); got != 12739 { // CLUSTER KEYSLOT 123456789
		t.Fatalf("slot(123456789) = %d, want 12739", got)
	}
	l := limitsOn(t, "mcpws:")
	if k := l.key("all"); k != "{mcpws:lease}:all" {
		t.Fatalf("endpoint key %q, want the prefix inside the tag", k)
	}
	if k := l.idKey("iss\x00ada"); k != "{mcpws:lease:id:iss\x00ada}" {
		t.Fatalf("identity key %q", k)
	}
	endpoint := slot(l.key("replicas"))
	for _, name := range []string{"all", "epoch"} {
		if slot(l.key(name)) != endpoint {
			t.Fatalf("%s is not in the slot of replicas: acquireScript and renewScript would fail with CROSSSLOT", name)
		}
	}
	rates := &counter{l: l}
	cur := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	ids, rateSlots, prefixes := map[int]bool{}, map[int]bool{}, map[int]bool{}
	for i := range 100 {
		who := "https://idp\x00user" + strconv.Itoa(i)
		ids[slot(l.idKey(who))] = true
		k := rates.keys(who, cur, time.Minute)
		if slot(k[0]) != slot(k[1]) {
			t.Fatalf("the two windows of %q are in slots %d and %d: rateScript would fail with CROSSSLOT", who, slot(k[0]), slot(k[1]))
		}
		rateSlots[slot(k[0])] = true
		prefixes[slot(limitsOn(t, "app"+strconv.Itoa(i)+":").key("all"))] = true
	}
	// A subject is the client's to choose: braces in it may shorten a tag,
	// never split the keys of one script over two slots.
	for _, who := range []string{"iss\x00a}b", "iss\x00{x}y", "}", "{", "{}", "iss\x00}{"} {
		k := rates.keys(who, cur, time.Minute)
		if slot(k[0]) != slot(k[1]) {
			t.Errorf("the two windows of %q are in slots %d and %d", who, slot(k[0]), slot(k[1]))
		}
	}
	for _, tt := range []struct {
		what  string
		slots map[int]bool
	}{
		{"100 identities' lease sets", ids},
		{"100 identities' rate counts", rateSlots},
		{"100 prefixes' endpoint keys", prefixes},
	} {
		if len(tt.slots) < 90 {
			t.Errorf("%s land in %d slots, want them spread (at least 90)", tt.what, len(tt.slots))
		}
	}
}
