package apikey

import (
	"bytes"
	"testing"
)

func TestGenerateCheckHash(t *testing.T) {
	k1, h1, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	k2, h2, _ := Generate()
	if k1 == k2 || bytes.Equal(h1, h2) {
		t.Fatal("two keys are equal")
	}
	if err := Check(k1); err != nil {
		t.Fatalf("Check(%q) = %v", k1, err)
	}
	if !bytes.Equal(Hash(k1), h1) {
		t.Fatal("Hash differs from the hash Generate returned")
	}
	for _, bad := range []string{"", "hk_", "Bearer " + k1, k1 + "x", "xx" + k1[2:], k1[:len(k1)-1] + "!"} {
		if Check(bad) == nil {
			t.Errorf("Check(%q) accepted", bad)
		}
	}
}
