package ids

import (
	"sort"
	"testing"
)

func TestNewSortsInCreationOrder(t *testing.T) {
	made := make([]string, 5000)
	for i := range made {
		made[i] = New(Endpoint)
	}
	if !sort.StringsAreSorted(made) {
		t.Fatal("ids made one after another do not sort in that order")
	}
	seen := map[string]bool{}
	for _, id := range made {
		if seen[id] {
			t.Fatalf("duplicate id %s", id)
		}
		seen[id] = true
		if !HasPrefix(id, Endpoint) {
			t.Fatalf("%s does not look like an endpoint id", id)
		}
	}
}

func TestDerive(t *testing.T) {
	a := Derive(Delivery, "evt_1", "ep_1")
	if a != Derive(Delivery, "evt_1", "ep_1") {
		t.Fatal("Derive is not deterministic")
	}
	if a == Derive(Delivery, "evt_1ep", "_1") || a == Derive(Delivery, "evt_1", "ep_2") {
		t.Fatal("different parts gave the same id")
	}
	if !HasPrefix(a, Delivery) {
		t.Fatalf("%s lacks its prefix", a)
	}
}

func TestHasPrefix(t *testing.T) {
	for _, bad := range []string{"", "ep_", "ep_short", "msg_" + New(Endpoint)[3:], "ep_0123456789ABCDEFGHJKMNPQRu"} {
		if HasPrefix(bad, Endpoint) {
			t.Errorf("HasPrefix(%q) = true", bad)
		}
	}
}
