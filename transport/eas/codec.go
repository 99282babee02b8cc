package eas

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/pushbeat/pushbeat/transport"
)

// Defaults for Config.
const (
	// DefaultProtocolVersion is the EAS version sent in
	// MS-ASProtocolVersion: 14.1 (Exchange 2010 SP1), which every current
	// server speaks.
	DefaultProtocolVersion = "14.1"
	// DefaultDeviceType is the DeviceType sent with every command.
	DefaultDeviceType = "pushbeat"
	// DefaultMaxBodyBytes bounds the body of a FolderSync or Sync answer.
	DefaultMaxBodyBytes = 4 << 20
	// DefaultWindowSize is the most changes per folder a Client's Sync
	// asks for.
	DefaultWindowSize = 50
	// DefaultCommandTimeout bounds a Client's FolderSync or Sync when the
	// context has no earlier deadline.
	DefaultCommandTimeout = time.Minute
)

// Config configures a Codec (NewCodec) and a Client (NewClient). User and
// DeviceID are required; every other zero field means its default.
// Credentials are not a field: Prepare sets them on each request, so a
// Config can be printed or logged.
type Config struct {
	// URL is the server's EAS endpoint, e.g.
	// https://mail.example.com/Microsoft-Server-ActiveSync. Required by
	// NewClient; NewCodec ignores it (transport.HTTPPinger passes its own
	// URL to Codec.NewRequest). It must be https unless AllowInsecureHTTP,
	// and may not carry a user name or password: use Prepare.
	URL string
	// User is the account, sent as the User query parameter. Required.
	User string
	// DeviceID identifies this device to the server: the server keeps its
	// sync state and its cached Ping per user and device. Required; it
	// must stay the same across runs.
	DeviceID string
	// DeviceType is sent as the DeviceType query parameter. Empty means
	// DefaultDeviceType.
	DeviceType string
	// ProtocolVersion is sent as MS-ASProtocolVersion, e.g. "14.1". Empty
	// means DefaultProtocolVersion.
	ProtocolVersion string
	// Classes maps folder ids (FolderSync's ServerId) to their content
	// class (ClassEmail, ...), which a Ping must name. A Client's
	// FolderSync replaces it with what the server lists, via
	// FolderType.Class. Nil means none known yet. It is copied.
	Classes map[string]string
	// Prepare, if not nil, is called on every request just before it is
	// sent, to set credentials: BasicAuth, or a function that sets a
	// bearer token. Pass the same function to transport.HTTPConfig.Prepare
	// (Client.Pinger does). Nothing it sets appears in errors or String.
	Prepare func(*http.Request) error
	// HTTPClient sends a Client's commands and pings. Nil means a client
	// of the Client's own over transport.NewHTTPTransport. Its Timeout is not used: every command has its
	// own (CommandTimeout) and every ping its deadline.
	HTTPClient *http.Client
	// AllowInsecureHTTP permits a plain http URL. Leave it false outside
	// tests and loopback demos (SPEC T7).
	AllowInsecureHTTP bool
	// MaxBodyBytes bounds the body of a FolderSync or Sync answer. Zero
	// means DefaultMaxBodyBytes. (Ping answers are bounded by
	// transport.HTTPConfig.MaxBodyBytes.)
	MaxBodyBytes int64
	// WindowSize is the most changes per folder a Client's Sync asks for;
	// the answer says MoreAvailable when there are more. Zero means
	// DefaultWindowSize.
	WindowSize int
	// CommandTimeout bounds a Client's FolderSync or Sync when the context
	// has no earlier deadline. Zero means DefaultCommandTimeout.
	CommandTimeout time.Duration
}

// withDefaults fills the identity fields a Codec uses.
func (c Config) withDefaults() Config {
	if c.DeviceType == "" {
		c.DeviceType = DefaultDeviceType
	}
	if c.ProtocolVersion == "" {
		c.ProtocolVersion = DefaultProtocolVersion
	}
	return c
}

// validate checks the identity fields a Codec uses.
func (c Config) validate() error {
	switch {
	case c.User == "":
		return errors.New("eas: Config.User is required")
	case c.DeviceID == "":
		return errors.New("eas: Config.DeviceID is required")
	case !printable(c.User) || !printable(c.DeviceID) || !printable(c.DeviceType):
		return errors.New("eas: Config.User, DeviceID and DeviceType must be printable text")
	case !version(c.ProtocolVersion):
		return fmt.Errorf("eas: Config.ProtocolVersion %.20q is not a version like %q", c.ProtocolVersion, DefaultProtocolVersion)
	}
	for id, class := range c.Classes {
		if id == "" || class == "" {
			return fmt.Errorf("eas: Config.Classes: empty folder id or class (%.64q: %.20q)", id, class)
		}
	}
	return nil
}

func printable(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) < 0
}

// version reports whether s looks like "14.1".
func version(s string) bool {
	major, minor, ok := strings.Cut(s, ".")
	digits := func(s string) bool {
		return s != "" && len(s) <= 3 && strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' }) < 0
	}
	return ok && digits(major) && digits(minor)
}

// BasicAuth returns a function for Config.Prepare and
// transport.HTTPConfig.Prepare that sets HTTP Basic credentials, as EAS
// servers expect (user is often "DOMAIN\user" or an e-mail address). The
// credentials live only in the function; printing it shows an address.
func BasicAuth(user, password string) func(*http.Request) error {
	return func(r *http.Request) error {
		r.SetBasicAuth(user, password)
		return nil
	}
}

// Codec is the EAS Ping codec for transport.HTTPPinger: it turns a
// transport.Request into
//
//	POST <url>?Cmd=Ping&DeviceId=..&DeviceType=..&User=..
//	MS-ASProtocolVersion: 14.1
//	Content-Type: application/vnd.ms-sync.wbxml
//
// with a WBXML Ping body, and the server's answer into a transport.Result
// (see Decode for the mapping).
//
// The heartbeat is sent in whole seconds, rounded up, at least 1 s: a
// scaled demo's 2.5 s heartbeat is sent as 3 s, so the server may hold the
// ping up to a second longer than Request.Heartbeat; keep the tuner's
// Buffer well above a second plus the server's own granularity.
//
// Request.Folders are folder ids; their classes come from
// Config.Classes or SetFolders. Empty Folders means every folder the
// codec knows a class for.
//
// When the heartbeat and folders are the same as those of the last full
// Ping the server accepted (status 1 or 2), the codec sends the empty
// Ping, with no body: the server reuses what it cached. If the server has
// lost that cache it answers status 3, and the codec has the full Ping
// sent at once (transport.ErrResend).
//
// A Codec holds the state of one user and device on one server: give each
// its own. It is safe for concurrent use.
type Codec struct {
	user, device, deviceType, version string

	mu      sync.Mutex
	classes map[string]string
	cached  *pingKey // the last full Ping the server accepted
	lastURL string   // the URL of the last request, for Decode's fallback
}

// pingKey is what a full Ping asks for: where, how long, which folders.
type pingKey struct {
	url       string
	heartbeat time.Duration // whole seconds
	folders   []PingFolder
}

func (k *pingKey) equal(o *pingKey) bool {
	return k != nil && o != nil && k.url == o.url && k.heartbeat == o.heartbeat && slices.Equal(k.folders, o.folders)
}

// sentKey is the context key under which NewRequest records what a request
// asked for, so Decode knows it from resp.Request.
type sentKey struct{}

// sentPing is what one request asked for.
type sentPing struct {
	key   *pingKey
	empty bool
}

// NewCodec returns a Codec for cfg's User, DeviceID, DeviceType,
// ProtocolVersion and Classes (the other fields are the Client's), or an
// error if User or DeviceID is missing or a field is malformed.
func NewCodec(cfg Config) (*Codec, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Codec{user: cfg.User, device: cfg.DeviceID, deviceType: cfg.DeviceType, version: cfg.ProtocolVersion,
		classes: maps.Clone(cfg.Classes)}, nil
}

// SetFolders replaces the folder classes with those of folders (as a
// FolderSync lists them); folders without a class (FolderType.Class
// returns "") are left out.
func (c *Codec) SetFolders(folders []Folder) {
	classes := make(map[string]string, len(folders))
	for _, f := range folders {
		if class := f.Type.Class(); class != "" && f.ServerID != "" {
			classes[f.ServerID] = class
		}
	}
	c.mu.Lock()
	c.classes = classes
	c.cached = nil
	c.mu.Unlock()
}

// Class returns the class of a folder, and whether it is known.
func (c *Codec) Class(folderID string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	class, ok := c.classes[folderID]
	return class, ok
}

// String describes the codec without credentials, e.g.
// "eas.Codec(device=A1B2 type=pushbeat version=14.1 folders=4)".
func (c *Codec) String() string {
	c.mu.Lock()
	n := len(c.classes)
	c.mu.Unlock()
	return fmt.Sprintf("eas.Codec(device=%s type=%s version=%s folders=%d)", c.device, c.deviceType, c.version, n)
}

// GoString is String, so that %#v shows no more.
func (c *Codec) GoString() string { return c.String() }

// seconds rounds a heartbeat up to whole seconds, at least one.
func seconds(d time.Duration) time.Duration {
	s := (d + time.Second - 1) / time.Second * time.Second
	if d <= 0 || s < time.Second {
		return time.Second
	}
	return s
}

// key returns what a full Ping for req asks for. The caller holds c.mu.
func (c *Codec) key(url string, req transport.Request) (*pingKey, error) {
	k := &pingKey{url: url, heartbeat: seconds(req.Heartbeat)}
	ids := req.Folders
	if len(ids) == 0 {
		ids = slices.Sorted(maps.Keys(c.classes))
		if len(ids) == 0 {
			return nil, &kindError{msg: "eas: no folders to ping: FolderSync first, or set Config.Classes",
				kinds: []error{ErrFolderSyncRequired, transport.ErrRejected}}
		}
	}
	k.folders = make([]PingFolder, len(ids))
	for i, id := range ids {
		class, ok := c.classes[id]
		if !ok {
			return nil, &kindError{msg: fmt.Sprintf("eas: folder %s has no known class: FolderSync first, or set Config.Classes", excerpt(id)),
				kinds: []error{ErrFolderSyncRequired, transport.ErrRejected}}
		}
		k.folders[i] = PingFolder{ID: id, Class: class}
	}
	return k, nil
}

// NewRequest builds the Ping for req: the empty Ping if the server has
// accepted the same heartbeat and folders at this url before, else the
// full one. A folder without a known class is an error matching
// ErrFolderSyncRequired and transport.ErrRejected.
func (c *Codec) NewRequest(ctx context.Context, url string, req transport.Request) (*http.Request, error) {
	if c.device == "" {
		return nil, errors.New("eas: Codec not made by NewCodec")
	}
	c.mu.Lock()
	c.lastURL = url
	k, err := c.key(url, req)
	empty := err == nil && k.equal(c.cached)
	c.mu.Unlock()
	if err != nil {
		return nil, err
	}
	var body []byte
	if !empty {
		if body, err = (PingRequest{Heartbeat: k.heartbeat, Folders: k.folders}).MarshalBinary(); err != nil {
			return nil, err
		}
	}
	ctx = context.WithValue(ctx, sentKey{}, sentPing{key: k, empty: empty})
	return newCommand(ctx, url, "Ping", c.query(), c.version, body)
}

// query returns the identity parameters of every command.
func (c *Codec) query() url.Values {
	return url.Values{"User": {c.user}, "DeviceId": {c.device}, "DeviceType": {c.deviceType}}
}

// newCommand builds the POST of one EAS command to base.
func newCommand(ctx context.Context, base, cmd string, id url.Values, version string, body []byte) (*http.Request, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, errors.New("eas: unparsable URL") // url errors quote the URL
	}
	q := u.Query()
	q.Set("Cmd", cmd)
	for k, v := range id {
		q[k] = v
	}
	u.RawQuery = q.Encode()
	var r *http.Request
	if len(body) == 0 {
		r, err = http.NewRequestWithContext(ctx, http.MethodPost, u.String(), http.NoBody)
	} else {
		r, err = http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	}
	if err != nil {
		return nil, fmt.Errorf("eas: building the %s request: %w", cmd, unwrapURL(err))
	}
	r.Header.Set("MS-ASProtocolVersion", version)
	r.Header.Set("Content-Type", ContentType)
	return r, nil
}

// unwrapURL drops net/url's and net/http's wrappers, which quote the URL.
func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// Decode interprets a Ping answer:
//
//	HTTP 200, empty body             Expired (a Ping superseded by a newer one)
//	status 1                         Expired
//	status 2 with folders            Changed, Result.Folders: those of the answer's folders
//	                                 the Ping named (none: Expired, SPEC T5)
//	status 3                         transport.ErrResend: the full Ping goes out at once
//	status 4                         transport.ErrProtocol
//	status 5                         OutOfBounds, Result.Limit = the HeartbeatInterval sent
//	status 6                         *TooManyFoldersError (transport.ErrRejected)
//	status 7, 132                    ErrFolderSyncRequired (transport.ErrRejected)
//	status 8, 110, 111, 133          transport.ErrServer
//	status 140, 142, 143, 144        ErrProvisioningRequired (transport.ErrRejected)
//	status 126, 129-131, 177         transport.ErrRejected (account or device refused)
//	HTTP 401, 403                    ErrAuthFailed (transport.ErrRejected)
//	HTTP 449                         ErrProvisioningRequired (transport.ErrRejected)
//	other 3xx, 4xx                   transport.ErrRejected
//	5xx, 429                         transport.ErrServer (HTTPPinger handles these itself)
//	anything else                    transport.ErrProtocol
//
// Other status errors are *StatusError values. After status 1 or 2 to a full
// Ping the codec remembers it, so the next identical ping is the empty
// Ping; any answer but 1, 2, 5 or a superseded Ping forgets it.
func (c *Codec) Decode(req transport.Request, resp *http.Response, body []byte) (transport.Result, error) {
	if resp.StatusCode != http.StatusOK {
		c.forget()
		return transport.Result{}, httpError("Ping", resp.StatusCode)
	}
	if len(body) == 0 {
		return transport.Result{Status: transport.Expired}, nil
	}
	var p PingResponse
	if err := p.UnmarshalBinary(body); err != nil {
		c.forget()
		return transport.Result{}, malformedAnswer("Ping", err)
	}
	switch p.Status {
	case PingExpired, PingChanged:
		pinged := c.accepted(req, resp)
		// Only folders the Ping named: the ids reach the loop's events
		// and logs, and a server may echo anything (T7).
		changed := slices.DeleteFunc(p.Folders, func(id string) bool { return !slices.Contains(pinged, id) })
		if p.Status == PingExpired || len(changed) == 0 {
			return transport.Result{Status: transport.Expired}, nil
		}
		return transport.Result{Status: transport.Changed, Folders: changed}, nil
	case PingHeartbeatOutOfBounds:
		if p.Heartbeat <= 0 {
			c.forget()
			return transport.Result{}, &kindError{msg: "eas: Ping status 5 without a HeartbeatInterval", kinds: []error{transport.ErrProtocol}}
		}
		return transport.Result{Status: transport.OutOfBounds, Limit: p.Heartbeat}, nil
	case PingTooManyFolders:
		c.forget()
		return transport.Result{}, &TooManyFoldersError{MaxFolders: p.MaxFolders}
	}
	c.forget()
	return transport.Result{}, statusError("Ping", int(p.Status), "")
}

// accepted remembers the full Ping the server just accepted, and returns
// the ids of the folders it watches.
func (c *Codec) accepted(req transport.Request, resp *http.Response) (pinged []string) {
	var sent sentPing
	var ok bool
	if resp.Request != nil {
		sent, ok = resp.Request.Context().Value(sentKey{}).(sentPing)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !ok {
		// A RoundTripper that does not report the request: what req asks
		// for is what was sent (an empty Ping only repeats the cache).
		k, err := c.key(c.lastURL, req)
		if err != nil {
			return req.Folders
		}
		sent.key = k
	}
	if !sent.empty {
		c.cached = sent.key
	}
	pinged = make([]string, len(sent.key.folders))
	for i, f := range sent.key.folders {
		pinged[i] = f.ID
	}
	return pinged
}

// forget drops the remembered Ping: the next ping is a full one.
func (c *Codec) forget() {
	c.mu.Lock()
	c.cached = nil
	c.mu.Unlock()
}
