//go:build linux

package natlab

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// Counters are the router's packet counters since the lab was built.
type Counters struct {
	// Outbound counts packets forwarded from the client to the server.
	Outbound uint64
	// Inbound counts packets forwarded from the server to the client.
	Inbound uint64
	// Forgotten counts packets of flows the router no longer tracked,
	// either way: dropped under Drop, answered with a RST under Reset.
	Forgotten uint64
}

// Counters reads the router's firewall counters.
func (l *Lab) Counters() (Counters, error) {
	out, err := l.Run(l.Router, "iptables", "-w", "-L", "FORWARD", "-v", "-x", "-n")
	if err != nil {
		return Counters{}, err
	}
	return parseCounters(out)
}

// parseCounters reads `iptables -L FORWARD -v -x -n` output, finding the
// lab's rules by their comments.
func parseCounters(out []byte) (Counters, error) {
	var c Counters
	found := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		for comment, dst := range map[string]*uint64{commentOutbound: &c.Outbound, commentInbound: &c.Inbound, commentInvalid: &c.Forgotten} {
			if !strings.Contains(line, "/* "+comment+" */") {
				continue
			}
			fs := strings.Fields(line)
			if len(fs) == 0 {
				continue
			}
			n, err := strconv.ParseUint(fs[0], 10, 64)
			if err != nil {
				return Counters{}, fmt.Errorf("natlab: iptables counter %q: %w", fs[0], err)
			}
			*dst += n
			found[comment] = true
		}
	}
	if len(found) != 3 {
		return Counters{}, fmt.Errorf("natlab: iptables -L shows %d of the lab's 3 rules:\n%s", len(found), out)
	}
	return c, nil
}
