package events

import (
	"fmt"
	"strings"
	"testing"
)

// benchValue is a native envelope of about 1 KiB: an order with a few
// line items, the shape most webhook events have.
func benchValue() []byte {
	var items []string
	for i := range 6 {
		items = append(items, fmt.Sprintf(`{"sku":"SKU-%04d","name":"Widget number %d, blue","qty":%d,"unit_price":{"amount":1999,"currency":"EUR"}}`, i, i, i+1))
	}
	v := `{"id":"evt_01HZX3J5N7Q8R9S0T1V2W3X4Y5","type":"order.created","tenant":"acme-prod","time":"2026-03-04T05:06:07.123Z","source":"https://shop.example.com/orders",` +
		`"data":{"order_id":"ord_81723","customer":{"id":"cus_1","email":"jane@example.com"},"items":[` + strings.Join(items, ",") + `],"total":{"amount":41979,"currency":"EUR"}}}`
	return []byte(v)
}

func BenchmarkDecodeNative1KB(b *testing.B) {
	d := testDecoder(b)
	m := msg(string(benchValue()))
	b.SetBytes(int64(len(m.Value)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.Decode(m); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPayload1KB(b *testing.B) {
	d := testDecoder(b)
	ev, err := d.Decode(msg(string(benchValue())))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(ev.Data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Payload(ev); err != nil {
			b.Fatal(err)
		}
	}
}
