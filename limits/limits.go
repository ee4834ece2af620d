package limits

import (
	"time"
)

// Startups is MaxStartups start:rate:full. Once Start unauthenticated
// connections are open, a new one is dropped with probability Rate
// percent, rising linearly to 100% at Full.
type Startups struct {
	Start, Rate, Full int
}

// Rate is a connection rate: Count per Per, with a burst of Count.
type Rate struct {
	Count int
	Per   time.Duration
}

// NetBlock is PerSourceNetBlockSize: the prefix lengths that group source
// addresses for per-source limits (OpenSSH: 32:128).
type NetBlock struct {
	V4, V6 int
}

// Penalties is PerSourcePenalties: how long a source is refused after each
// kind of misbehaviour. Penalties accumulate up to Max; a source is refused
// only once its penalty reaches Min, and until it has run out.
type Penalties struct {
	Off           bool
	AuthFail      time.Duration // authentication failed (MaxAuthTries reached, or every key refused)
	NoAuth        time.Duration // disconnected without trying to authenticate
	GraceExceeded time.Duration // LoginGraceTime ran out
	Crash         time.Duration // the connection's handler panicked
	Max, Min      time.Duration
	MaxSources4   int // table entries for IPv4 sources
	MaxSources6   int // table entries for IPv6 sources
}

// Off is the value of a duration or count limit that is turned off.
const Off = -1

// Limits are the gateway's connection limits, named after sshd_config. In
// a Limits passed to a gateway, a zero field means its default and Off (or
// a negative duration) turns an optional limit off.
type Limits struct {
	LoginGraceTime          time.Duration
	MaxStartups             Startups
	PerSourceMaxStartups    int
	PerSourceConnectRate    Rate
	PerSourceNetBlockSize   NetBlock
	PerSourcePenalties      Penalties
	MaxAuthTries            int
	MaxSessions             int
	MaxConnections          int
	MaxConnectionsPerKey    int
	ChannelTimeout          time.Duration
	UnusedConnectionTimeout time.Duration
	ClientAliveInterval     time.Duration
	ClientAliveCountMax     int
}

// Defaults returns the default limits: OpenSSH's where it has one, and a
// bound where OpenSSH has none but a gateway in front of an admin API
// needs one.
func Defaults() Limits {
	return Limits{
		LoginGraceTime:        30 * time.Second,
		MaxStartups:           Startups{Start: 10, Rate: 30, Full: 100},
		PerSourceMaxStartups:  10,
		PerSourceConnectRate:  Rate{Count: 60, Per: time.Minute},
		PerSourceNetBlockSize: NetBlock{V4: 32, V6: 128},
		PerSourcePenalties: Penalties{
			AuthFail: 5 * time.Second, NoAuth: time.Second, GraceExceeded: 10 * time.Second,
			Crash: 90 * time.Second, Max: 10 * time.Minute, Min: 15 * time.Second,
			MaxSources4: 65536, MaxSources6: 65536,
		},
		MaxAuthTries:            6,
		MaxSessions:             64, // tunnels, not shells: a browser alone opens 6 per host
		MaxConnections:          100,
		MaxConnectionsPerKey:    10,
		ChannelTimeout:          30 * time.Minute,
		UnusedConnectionTimeout: time.Hour,
		ClientAliveInterval:     15 * time.Second,
		ClientAliveCountMax:     3,
	}
}

// WithDefaults returns l with each zero field set to its default.
func (l Limits) WithDefaults() Limits {
	d := Defaults()
	dur(&l.LoginGraceTime, d.LoginGraceTime)
	if l.MaxStartups == (Startups{}) {
		l.MaxStartups = d.MaxStartups
	}
	num(&l.PerSourceMaxStartups, d.PerSourceMaxStartups)
	if l.PerSourceConnectRate == (Rate{}) {
		l.PerSourceConnectRate = d.PerSourceConnectRate
	}
	if l.PerSourceNetBlockSize == (NetBlock{}) {
		l.PerSourceNetBlockSize = d.PerSourceNetBlockSize
	}
	if l.PerSourcePenalties == (Penalties{}) {
		l.PerSourcePenalties = d.PerSourcePenalties
	}
	num(&l.PerSourcePenalties.MaxSources4, d.PerSourcePenalties.MaxSources4)
	num(&l.PerSourcePenalties.MaxSources6, d.PerSourcePenalties.MaxSources6)
	num(&l.MaxAuthTries, d.MaxAuthTries)
	num(&l.MaxSessions, d.MaxSessions)
	num(&l.MaxConnections, d.MaxConnections)
	num(&l.MaxConnectionsPerKey, d.MaxConnectionsPerKey)
	dur(&l.ChannelTimeout, d.ChannelTimeout)
	dur(&l.UnusedConnectionTimeout, d.UnusedConnectionTimeout)
	dur(&l.ClientAliveInterval, d.ClientAliveInterval)
	num(&l.ClientAliveCountMax, d.ClientAliveCountMax)
	return l
}

func dur(p *time.Duration, def time.Duration) {
	if *p == 0 {
		*p = def
	}
}

func num(p *int, def int) {
	if *p == 0 {
		*p = def
	}
}

// On reports whether a duration limit is on (positive).
func On(d time.Duration) bool { return d > 0 }
