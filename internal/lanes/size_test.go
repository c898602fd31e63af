package lanes

import (
	"testing"
	"unsafe"
)

// The package documentation promises about 250 bytes per endpoint, and
// shards padded so that their locks do not share cache lines.
func TestSizes(t *testing.T) {
	if got := unsafe.Sizeof(lane{}); got > 256 {
		t.Errorf("lane is %d bytes, want at most 256", got)
	}
	if got := unsafe.Sizeof(shard{}); got != 128 {
		t.Errorf("shard is %d bytes, want 128", got)
	}
	if got := unsafe.Sizeof(Permit{}); got > 24 {
		t.Errorf("Permit is %d bytes, want at most 24", got)
	}
}
