package main

import (
	"strings"
	"testing"
)

func TestAccountLine(t *testing.T) {
	five := uint64(5)
	cases := []struct {
		a    account
		want []string
	}{
		{account{sent: 100, committed: 100, delivered: 100}, []string{"100 sent", "all accounted for"}},
		{account{sent: 100, committed: 95, delivered: 90, buffered: 5, missing: 5, brokerDrops: &five},
			[]string{"5 still in the appliance's buffer", "5 dropped before the appliance", "dropped count: 5", "all accounted for"}},
		{account{sent: 100, committed: 97, delivered: 97}, []string{"3 unaccounted"}},
		{account{sent: 100, committed: 100, delivered: 98}, []string{"2 taken but not seen in Kafka", "2 unaccounted"}},
	}
	for _, c := range cases {
		got := c.a.String()
		for _, w := range c.want {
			if !strings.Contains(got, w) {
				t.Errorf("%+v: %q lacks %q", c.a, got, w)
			}
		}
	}
}
