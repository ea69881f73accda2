package ingest

import (
	"fmt"
	"slices"
	"strings"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// subackFailure is the SUBACK return code of a refused subscription
// (MQTT 3.1.1 section 3.9.3).
const subackFailure = 0x80

// subscribeRetry is how long the Client waits before it subscribes again
// on a connection whose subscription was refused; one not answered is
// tried again after subscribeRetrySoon.
const (
	subscribeRetry     = 30 * time.Second
	subscribeRetrySoon = time.Second
)

// SubscribeError says the broker refused subscriptions: its SUBACK carried
// the failure code 0x80 for each of Filters (typically its ACL denies this
// client the topic). Ingest is then not ready; the Client subscribes again
// every subscribeRetry on the same connection, and at each new one.
type SubscribeError struct {
	Filters []string
}

func (e *SubscribeError) Error() string {
	return fmt.Sprintf("mqtt: the broker refused the subscription to %s (SUBACK 0x80: check its ACL for this client's user and client id)",
		strings.Join(e.Filters, ", "))
}

// subscribeAll subscribes to every subscription's filter in one SUBSCRIBE
// and waits for the SUBACK (or for the connection of generation gen to
// end). It returns a *SubscribeError naming the refused filters, another
// error when no SUBACK came, or nil when every filter was granted.
func (in *Client) subscribeAll(c mqtt.Client, gen uint64) error {
	filters := make(map[string]byte, len(in.subs))
	for i, tt := range in.subs {
		for _, f := range tt.filters() { // a sparkplug_b subscription has several
			filters[f] = max(filters[f], *in.cfg.Subscriptions[i].QoS)
		}
	}
	tok := c.SubscribeMultiple(filters, nil) // delivered through route
	if !in.waitToken(tok, gen) {
		return fmt.Errorf("mqtt: no SUBACK for %s", strings.Join(sortedKeys(filters), ", "))
	}
	if err := tok.Error(); err != nil {
		return fmt.Errorf("mqtt subscribe %s: %w", strings.Join(sortedKeys(filters), ", "), err)
	}
	return refused(tok.(*mqtt.SubscribeToken).Result(), sortedKeys(filters))
}

// refused returns a *SubscribeError for the filters whose SUBACK code is a
// failure, another error when the SUBACK's codes are missing (paho
// completed the token some other way), nil when all were granted.
func refused(granted map[string]byte, filters []string) error {
	var bad []string
	for _, f := range filters {
		code, ok := granted[f]
		if !ok {
			return fmt.Errorf("mqtt subscribe %s: no SUBACK code", strings.Join(filters, ", "))
		}
		if code >= subackFailure {
			bad = append(bad, f)
		}
	}
	if len(bad) == 0 {
		return nil
	}
	return &SubscribeError{Filters: bad}
}

// waitToken waits for tok while the connection of generation gen lasts;
// it reports whether tok completed. A token that never completes (a broker
// that never answers) is given up when the connection ends.
func (in *Client) waitToken(tok mqtt.Token, gen uint64) bool {
	for !tok.WaitTimeout(in.cfg.ConnectTimeout) {
		if in.gen.Load() != gen {
			return false
		}
		in.log.Warn("mqtt: still waiting for the broker's SUBACK; ingest is not ready", "waited", in.cfg.ConnectTimeout)
	}
	return true
}

func sortedKeys(m map[string]byte) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
