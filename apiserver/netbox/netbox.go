// Package netbox syncs the graph with a NetBox: pull writes NetBox's site,
// tenant, rack and role onto the matching graph devices' metadata; push
// creates or updates NetBox devices, their interfaces and their primary IP
// from the graph. It answers POST /admin/netbox/sync.
package netbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/meshoptixiq/mesh/apiserver/graph"
	"github.com/meshoptixiq/mesh/common/apierror"
	"github.com/meshoptixiq/mesh/common/envconf"
)

// Directions.
const (
	Pull = "pull"
	Push = "push"
	Both = "both"
)

// Metadata keys pull writes onto a device.
const (
	KeySite   = "nb_site"   // the site's slug
	KeyTenant = "nb_tenant" // the tenant's slug
	KeyRack   = "nb_rack"   // the rack's name (racks have no slug)
	KeyRole   = "nb_role"   // the device role's slug
)

// Config is the NETBOX_* environment.
type Config struct {
	URL         string
	Token       envconf.Secret
	Direction   string
	VerifyTLS   bool
	DefaultSite string
	DefaultRole string
	// RetryBackoff is the first wait before retrying a 429 or 5xx (tests
	// shorten it); 0 means 500ms.
	RetryBackoff time.Duration
}

// Defaults for what push needs and the graph does not say.
const (
	DefaultSite         = "default"
	DefaultRole         = "unknown"
	DefaultManufacturer = "Generic"
	DefaultDeviceType   = "Generic device"
)

// Configured says whether NETBOX_URL is set.
func (c Config) Configured() bool { return c.URL != "" }

// Graph is what the sync reads and writes of the engine: metadata goes
// through the store like update_device_metadata's.
type Graph interface {
	Graph() *graph.Graph
	UpdateMetadata(ctx context.Context, hostname string, patch map[string]any) (*graph.Graph, error)
}

// Syncer runs one sync at a time.
type Syncer struct {
	cfg     Config
	client  *client
	graph   Graph
	log     *slog.Logger
	running atomic.Bool
	timeout time.Duration
}

// ErrBusy is a sync asked for while one runs.
var ErrBusy = errors.New("a NetBox sync is already running")

// ErrNotConfigured is a sync asked for without NETBOX_URL.
var ErrNotConfigured = errors.New("NetBox sync is not configured: set NETBOX_URL and NETBOX_TOKEN")

// New returns a syncer; with cfg not Configured it answers every sync with
// ErrNotConfigured.
func New(cfg Config, g Graph, log *slog.Logger) (*Syncer, error) {
	if cfg.Direction == "" {
		cfg.Direction = Pull
	}
	if cfg.DefaultSite == "" {
		cfg.DefaultSite = DefaultSite
	}
	if cfg.DefaultRole == "" {
		cfg.DefaultRole = DefaultRole
	}
	s := &Syncer{cfg: cfg, graph: g, log: log, timeout: 15 * time.Minute}
	if cfg.Configured() {
		c, err := newClient(cfg)
		if err != nil {
			return nil, err
		}
		s.client = c
	}
	return s, nil
}

// Report is a sync's answer.
type Report struct {
	Direction string           `json:"direction"`
	DryRun    bool             `json:"dry_run"`
	Pull      *DirectionReport `json:"pull,omitempty"`
	Push      *DirectionReport `json:"push,omitempty"`
}

// DirectionReport counts one direction's devices. Pull counts NetBox
// devices (matched to a graph device or not; updated is graph devices
// whose metadata changed); push counts graph devices (matched to a NetBox
// device or not; created are the unmatched ones it created). Changes is
// every change made or, in a dry run, that would be made.
type DirectionReport struct {
	Matched          int           `json:"matched"`
	Unmatched        int           `json:"unmatched"`
	Created          int           `json:"created"`
	Updated          int           `json:"updated"`
	Unchanged        int           `json:"unchanged"`
	Failed           int           `json:"failed"`
	Changes          []Change      `json:"changes"`
	UnmatchedDevices []Unmatched   `json:"unmatched_devices"`
	Errors           []ObjectError `json:"errors"`
}

// Change is one field of one object: Old is null for a created object,
// New null for a removed metadata key.
type Change struct {
	Object string `json:"object"`
	Action string `json:"action"` // "create" or "update"
	Field  string `json:"field"`
	Old    any    `json:"old"`
	New    any    `json:"new"`
}

// Unmatched is a device the other side has no counterpart for: in pull a
// NetBox device (NetboxID set), in push a graph device.
type Unmatched struct {
	NetboxID  int    `json:"netbox_id,omitempty"`
	Name      string `json:"name"`
	PrimaryIP string `json:"primary_ip,omitempty"`
	Reason    string `json:"reason"`
}

// ObjectError is one object that failed; the sync went on with the rest.
// Status and Fields are NetBox's answer when NetBox refused.
type ObjectError struct {
	Object  string              `json:"object"`
	Status  int                 `json:"status,omitempty"`
	Message string              `json:"message"`
	Fields  map[string][]string `json:"fields,omitempty"`
}

func newDirectionReport() *DirectionReport {
	return &DirectionReport{Changes: []Change{}, UnmatchedDevices: []Unmatched{}, Errors: []ObjectError{}}
}

func (r *DirectionReport) fail(object string, err error) {
	oe := ObjectError{Object: object, Message: err.Error()}
	var api *APIError
	if errors.As(err, &api) {
		oe.Status, oe.Fields = api.Status, api.Fields
	}
	r.Errors = append(r.Errors, oe)
}

// Sync runs direction ("" for NETBOX_SYNC_DIRECTION). A direction that
// cannot read NetBox at all fails the whole sync; an object that fails is
// reported and the rest goes on.
func (s *Syncer) Sync(ctx context.Context, direction string, dryRun bool) (*Report, error) {
	if s.client == nil {
		return nil, ErrNotConfigured
	}
	if direction == "" {
		direction = s.cfg.Direction
	}
	if direction != Pull && direction != Push && direction != Both {
		return nil, fmt.Errorf("direction %q is not pull, push or both", direction)
	}
	if !s.running.CompareAndSwap(false, true) {
		return nil, ErrBusy
	}
	defer s.running.Store(false)
	start := time.Now()
	rep := &Report{Direction: direction, DryRun: dryRun}
	var err error
	if direction == Pull || direction == Both {
		if rep.Pull, err = s.pull(ctx, dryRun); err != nil {
			return nil, fmt.Errorf("pull: %w", err)
		}
	}
	if direction == Push || direction == Both {
		if rep.Push, err = s.push(ctx, dryRun); err != nil {
			return nil, fmt.Errorf("push: %w", err)
		}
	}
	args := []any{"direction", direction, "dry_run", dryRun, "elapsed_ms", time.Since(start).Milliseconds()}
	for name, r := range map[string]*DirectionReport{"pull": rep.Pull, "push": rep.Push} {
		if r != nil {
			args = append(args, slog.Group(name, "matched", r.Matched, "unmatched", r.Unmatched, "created", r.Created,
				"updated", r.Updated, "unchanged", r.Unchanged, "failed", r.Failed))
		}
	}
	s.log.Info("netbox sync", args...)
	return rep, nil
}

// Handlers are the sync's endpoints, by operation id (common/routes).
func (s *Syncer) Handlers() map[string]fasthttp.RequestHandler {
	return map[string]fasthttp.RequestHandler{"admin_netbox_sync": s.handleSync}
}

type syncRequest struct {
	Direction *string `json:"direction"`
	DryRun    *bool   `json:"dry_run"`
}

func (s *Syncer) handleSync(ctx *fasthttp.RequestCtx) {
	var req syncRequest
	if body := ctx.PostBody(); len(strings.TrimSpace(string(body))) > 0 {
		dec := json.NewDecoder(strings.NewReader(string(body)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			apierror.Write(ctx, fasthttp.StatusBadRequest, apierror.BadRequest,
				"the body must be {\"direction\": \"pull|push|both\", \"dry_run\": true|false}: "+err.Error())
			return
		}
	}
	direction := ""
	if req.Direction != nil {
		direction = strings.ToLower(*req.Direction)
		if direction != Pull && direction != Push && direction != Both {
			apierror.Write(ctx, fasthttp.StatusBadRequest, apierror.BadRequest,
				fmt.Sprintf("direction %q is not pull, push or both", *req.Direction))
			return
		}
	}
	dryRun := req.DryRun != nil && *req.DryRun
	runCtx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	rep, err := s.Sync(runCtx, direction, dryRun)
	switch {
	case errors.Is(err, ErrNotConfigured):
		apierror.Write(ctx, fasthttp.StatusServiceUnavailable, apierror.Unavailable, err.Error())
		return
	case errors.Is(err, ErrBusy):
		apierror.Write(ctx, fasthttp.StatusConflict, apierror.Conflict, err.Error()+"; retry when it has finished")
		return
	case err != nil:
		s.log.Warn("netbox sync failed", "direction", direction, "dry_run", dryRun, "err", err)
		apierror.Write(ctx, fasthttp.StatusBadGateway, apierror.BadGateway, "NetBox sync failed: "+err.Error())
		return
	}
	out, _ := json.Marshal(rep)
	ctx.SetContentType("application/json")
	ctx.SetStatusCode(fasthttp.StatusOK)
	ctx.SetBody(out)
}
