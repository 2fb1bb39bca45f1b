package chaos

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/meshoptixiq/mesh/apiserver/jsonstore"

	"github.com/redis/go-redis/v9"
	"github.com/valyala/fasthttp"

	"github.com/meshoptixiq/mesh/apiserver/graph"
	"github.com/meshoptixiq/mesh/apiserver/pathanalysis"
	"github.com/meshoptixiq/mesh/apiserver/telemetry"
	"github.com/meshoptixiq/mesh/common/apierror"
	"github.com/meshoptixiq/mesh/common/httpx"
)

// Defaults.
const (
	DefaultTTL         = 24 * time.Hour
	DefaultWorkers     = 2
	DefaultQueue       = 64
	DefaultMaxAttempts = 3
)

// Run statuses.
const (
	StatusPending = "pending"
	StatusRunning = "running"
	StatusDone    = "done"
	StatusFailed  = "failed"
)

// KeyPrefix is the Redis key of a run's record, followed by its id.
const KeyPrefix = "meshq:chaos:"

// GraphSource gives the current graph (the engine).
type GraphSource interface {
	Graph() *graph.Graph
}

// Options configure a Service.
type Options struct {
	// Redis keeps the records so that every replica answers for every run;
	// nil keeps them in this process's memory.
	Redis *redis.Client
	// TTL is how long a record is kept after its last change.
	TTL time.Duration
	// Workers compute runs concurrently; Queue more wait for one.
	Workers, Queue int
	// MaxAttempts is how many times a run starts over on a newer graph
	// when the graph changes under it before it fails.
	MaxAttempts int
	// Paths is the path-analysis index cache (shared with the queries).
	Paths *pathanalysis.Cache
	// Agents, when set, gives the jobs the node agents report; a scenario
	// that names no jobs is run against those.
	Agents JobReporter
}

// JobReporter is the node agents' view of running jobs (apiserver/telemetry).
type JobReporter interface {
	Jobs() []telemetry.Job
}

// Record is a run as GET /graph/chaos-results/{id} answers it.
type Record struct {
	ID           string     `json:"id"`
	Status       string     `json:"status"`
	SubmittedAt  time.Time  `json:"submitted_at"`
	StartedAt    *time.Time `json:"started_at,omitempty"`
	FinishedAt   *time.Time `json:"finished_at,omitempty"`
	GraphVersion uint64     `json:"graph_version"`
	// Attempts counts the starts: more than one when the graph changed
	// during a run and it started over on the new version.
	Attempts int     `json:"attempts"`
	Error    string  `json:"error,omitempty"`
	Request  Request `json:"scenario"`
	// ReportedJobs are the node agents' jobs taken at submission, their
	// nodes as the graph knows them; Notes say which were left out and why.
	ReportedJobs []Job    `json:"reported_jobs,omitempty"`
	Notes        []string `json:"notes,omitempty"`
	Result       *Result  `json:"result,omitempty"`
}

type task struct {
	rec Record
}

// Service queues and computes scenarios.
type Service struct {
	src   GraphSource
	opt   Options
	log   *slog.Logger
	store *jsonstore.Store[Record]
	queue chan *task

	// checkpoint, when set, runs at each of a run's checks for a graph
	// change (tests change the graph there).
	checkpoint func()
}

// New returns a service; call Run to start its workers.
func New(src GraphSource, log *slog.Logger, opt Options) *Service {
	if opt.TTL <= 0 {
		opt.TTL = DefaultTTL
	}
	if opt.Workers <= 0 {
		opt.Workers = DefaultWorkers
	}
	if opt.Queue <= 0 {
		opt.Queue = DefaultQueue
	}
	if opt.MaxAttempts <= 0 {
		opt.MaxAttempts = DefaultMaxAttempts
	}
	if opt.Paths == nil {
		opt.Paths = pathanalysis.NewCache()
	}
	s := &Service{src: src, opt: opt, log: log.With("component", "chaos"), queue: make(chan *task, opt.Queue)}
	s.store = jsonstore.New[Record](opt.Redis, KeyPrefix, opt.TTL)
	return s
}

// Handlers are the service's endpoints by the operation id of their route
// in common/routes.
func (s *Service) Handlers() map[string]fasthttp.RequestHandler {
	return map[string]fasthttp.RequestHandler{
		"chaos_simulate": s.handleSimulate,
		"chaos_results":  s.handleResults,
	}
}

// Run computes queued scenarios until ctx ends; the runs still queued then
// are recorded as failed.
func (s *Service) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for range s.opt.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-ctx.Done():
					return
				case t := <-s.queue:
					s.run(ctx, t)
				}
			}
		}()
	}
	wg.Wait()
	for {
		select {
		case t := <-s.queue:
			s.finish(&t.rec, nil, errors.New("the server shut down before the run started; submit it again"))
		default:
			return nil
		}
	}
}

// Submit validates req against the current graph and queues it.
func (s *Service) Submit(ctx context.Context, req Request) (Record, error) {
	g := s.src.Graph()
	var reported []Job
	var notes []string
	if len(req.Jobs) == 0 && s.opt.Agents != nil {
		reported, notes = placeJobs(g, s.opt.Agents.Jobs())
	}
	if _, err := Resolve(g, req, reported...); err != nil {
		return Record{}, err
	}
	var id [16]byte
	_, _ = rand.Read(id[:])
	t := &task{rec: Record{ID: hex.EncodeToString(id[:]), Status: StatusPending, SubmittedAt: time.Now().UTC(),
		GraphVersion: g.Version, Request: req, ReportedJobs: reported, Notes: notes}}
	// Stored before it is queued, so that a GET right after the 202 finds it.
	if err := s.store.Put(ctx, t.rec.ID, &t.rec); err != nil {
		return Record{}, fmt.Errorf("storing the run: %w", err)
	}
	// Copied before it is queued: from then on a worker owns t.rec.
	submitted := t.rec
	select {
	case s.queue <- t:
		return submitted, nil
	default:
		s.finish(&t.rec, nil, errQueueFull)
		return Record{}, errQueueFull
	}
}

var errQueueFull = errors.New("the chaos queue is full")

// Get returns a run's record.
func (s *Service) Get(ctx context.Context, id string) (Record, bool, error) {
	rec, ok, err := s.store.Get(ctx, id)
	if !ok || err != nil {
		return Record{}, ok, err
	}
	return *rec, true, nil
}

func (s *Service) run(ctx context.Context, t *task) {
	now := time.Now().UTC()
	rec := &t.rec
	rec.Status, rec.StartedAt = StatusRunning, &now
	if err := s.store.Put(ctx, rec.ID, rec); err != nil {
		s.log.Error("storing a chaos run", "id", rec.ID, "err", err)
	}
	var lastErr error
	for rec.Attempts < s.opt.MaxAttempts {
		rec.Attempts++
		g := s.src.Graph()
		rec.GraphVersion = g.Version
		resolved, err := Resolve(g, rec.Request, rec.ReportedJobs...)
		if err != nil {
			s.finish(rec, nil, fmt.Errorf("the scenario no longer matches graph version %d: %w", g.Version, err))
			return
		}
		check := func() error {
			if s.checkpoint != nil {
				s.checkpoint()
			}
			if ctx.Err() != nil {
				return errors.New("the server shut down during the run; submit it again")
			}
			if now := s.src.Graph(); now.Version != g.Version {
				return fmt.Errorf("%w (version %d became %d)", errGraphChanged, g.Version, now.Version)
			}
			return nil
		}
		res, err := compute(g, func() *pathanalysis.Index { return s.opt.Paths.Index(g) }, resolved, check)
		if err == nil {
			s.finish(rec, res, nil)
			return
		}
		if !errors.Is(err, errGraphChanged) {
			s.finish(rec, nil, err)
			return
		}
		lastErr = err
		s.log.Info("chaos run starts over on the new graph", "id", rec.ID, "attempt", rec.Attempts, "err", err)
	}
	s.finish(rec, nil, fmt.Errorf("%w on each of %d attempts, last: %v; submit it again once ingestion settles",
		errGraphChanged, rec.Attempts, lastErr))
}

// finish records the outcome: a result, or the reason there is none.
func (s *Service) finish(rec *Record, res *Result, err error) {
	now := time.Now().UTC()
	rec.FinishedAt, rec.Result = &now, res
	if err != nil {
		rec.Status, rec.Error = StatusFailed, err.Error()
	} else {
		rec.Status = StatusDone
	}
	// A shut-down context must not lose the outcome: store on a fresh one.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.store.Put(ctx, rec.ID, rec); err != nil {
		s.log.Error("storing a chaos result", "id", rec.ID, "err", err)
	}
}

func (s *Service) handleSimulate(ctx *fasthttp.RequestCtx) {
	req, err := Parse(ctx.PostBody())
	if err == nil {
		var rec Record
		if rec, err = s.Submit(ctx, req); err == nil {
			httpx.WriteJSON(ctx, fasthttp.StatusAccepted, map[string]any{"id": rec.ID, "status": rec.Status, "graph_version": rec.GraphVersion})
			return
		}
	}
	var fe *FieldError
	switch {
	case errors.As(err, &fe):
		apierror.Write(ctx, fasthttp.StatusBadRequest, apierror.BadRequest, fe.Error())
	case errors.Is(err, errQueueFull):
		apierror.Write(ctx, fasthttp.StatusServiceUnavailable, apierror.Unavailable,
			fmt.Sprintf("the chaos queue is full (%d waiting, CHAOS_QUEUE); retry later", s.opt.Queue))
	default:
		s.log.Error("submitting a chaos run", "err", err)
		apierror.Write(ctx, fasthttp.StatusServiceUnavailable, apierror.Unavailable, "the chaos result store is unavailable")
	}
}

func (s *Service) handleResults(ctx *fasthttp.RequestCtx) {
	id, _ := ctx.UserValue("id").(string)
	rec, ok, err := s.Get(ctx, id)
	switch {
	case err != nil:
		s.log.Error("reading a chaos result", "id", id, "err", err)
		apierror.Write(ctx, fasthttp.StatusServiceUnavailable, apierror.Unavailable, "the chaos result store is unavailable")
	case !ok:
		apierror.Write(ctx, fasthttp.StatusNotFound, apierror.NotFound, fmt.Sprintf("id: no chaos run %q (unknown, or expired after CHAOS_RESULT_TTL)", id))
	default:
		httpx.WriteJSON(ctx, fasthttp.StatusOK, rec)
	}
}
