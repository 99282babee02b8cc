package sim

import (
	"math/rand/v2"
	"time"

	"github.com/pushbeat/pushbeat/internal/enum"
)

// Kind is the kind of a network a fleet device uses (SPEC S2).
type Kind int

// The kinds of network in a fleet device's day.
const (
	Home     Kind = iota // home Wi-Fi behind a home gateway
	Cellular             // the carrier's network, through its NAT/firewall
	Office               // office Wi-Fi through an enterprise or cloud path
)

var kindNames = [...]string{
	Home:     "home",
	Cellular: "cellular",
	Office:   "office",
}

// String returns "home", "cellular" or "office", or "Kind(n)" for a value
// without a name.
func (k Kind) String() string { return enum.Name("Kind", k, kindNames[:]) }

// share is one entry of a timeout mix: a weight and a range of idle
// timeouts drawn uniformly (lo == hi: exactly lo).
type share struct {
	weight float64
	lo, hi time.Duration
	label  string
}

// The idle-timeout mixes (SPEC S2). The kinds of value and their sources
// are cited; every WEIGHT is an assumption of this simulation, not a
// measurement, and the README says so.
var (
	// Cellular: carriers' NATs and firewalls drop idle TCP connections
	// after times that differ widely between carriers, some after a few
	// minutes (Wang et al., "An Untold Story of Middleboxes in Cellular
	// Networks", SIGCOMM 2011, measured carriers' TCP idle timeouts with
	// NetPiculet); Google's push service keeps 28 minutes on mobile
	// networks, which therefore many carriers allow.
	cellularMix = []share{
		{0.20, 4 * time.Minute, 5 * time.Minute, "4-5 min"},
		{0.25, 10 * time.Minute, 20 * time.Minute, "10-20 min"},
		{0.55, 28 * time.Minute, 60 * time.Minute, ">= 28 min"},
	}
	// Home gateways: RFC 5382 (REQ-5) requires an established TCP
	// mapping to live at least 2 h 4 min idle; Hätönen et al., "An
	// Experimental Study of Home Gateway Characteristics", IMC 2010,
	// found gateways far below that.
	homeMix = []share{
		{0.85, 124 * time.Minute, 24 * time.Hour, ">= 2h4m (RFC 5382)"},
		{0.15, 5 * time.Minute, 15 * time.Minute, "5-15 min"},
	}
	// Office: enterprise firewalls and cloud load balancers on the path:
	// 60 s (a common firewall setting), 4 min (Azure Load Balancer's
	// default TCP idle timeout), 350 s (AWS Network Load Balancer's fixed
	// TCP idle timeout), 10 min (Google Cloud's VPC firewall connection
	// tracking), and paths with none below an hour.
	officeMix = []share{
		{0.05, time.Minute, time.Minute, "60 s firewall"},
		{0.20, 4 * time.Minute, 4 * time.Minute, "4 min Azure LB"},
		{0.20, 350 * time.Second, 350 * time.Second, "350 s AWS NLB"},
		{0.20, 10 * time.Minute, 10 * time.Minute, "10 min Google Cloud"},
		{0.35, time.Hour, 8 * time.Hour, ">= 1 h"},
	}
)

// Fleet assumptions (SPEC S2), all marked as such in the README.
const (
	// resetShare is the share of networks whose middlebox resets an idle
	// connection (the device sees it at once) instead of dropping it
	// silently.
	resetShare = 0.3
	// driftShare is the share of networks whose idle timeout changes once
	// during the week (a gateway replaced or reconfigured, a carrier
	// policy change), to a new draw from the same mix.
	driftShare = 0.2
	// commuterShare is the share of devices with a weekday of home,
	// commute, office, commute, home; the others spend the day on
	// cellular.
	commuterShare = 0.7
	// lteShare is the share of devices whose cellular radio is LTE; the
	// others use 3G.
	lteShare = 0.8
)

// Mail rates (SPEC S2): mean gaps of the Poisson mail of light, medium and
// heavy mailboxes, equally likely (an assumption).
var mailGaps = []time.Duration{15 * time.Minute, time.Hour, 4 * time.Hour}

// draw picks a timeout from mix.
func draw(rng *rand.Rand, mix []share) time.Duration {
	x := rng.Float64()
	for i, s := range mix {
		if x < s.weight || i == len(mix)-1 {
			if s.hi == s.lo {
				return s.lo
			}
			return s.lo + time.Duration(rng.Int64N(int64(s.hi-s.lo))).Truncate(time.Second)
		}
		x -= s.weight
	}
	return 0 // unreachable: the last share always matches
}

func mixOf(k Kind) []share {
	switch k {
	case Home:
		return homeMix
	case Cellular:
		return cellularMix
	}
	return officeMix
}
