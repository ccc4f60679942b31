// Command session drives the scripted tester session of `covtop demo` against instrumented
// replicas of the bookstore and records their goc agent profiles.
//
// It starts each replica binary (built by scripts/record-demo.sh with `go tool cover
// -mode=count` and a goc v1 agent), sends the scripted requests at their offsets, pulls every
// replica's /v1/cover/profile every -every, and writes the recording as JSON: the block layout
// once (files in name order, blocks in counter order), then per capture the replica, the offset
// in milliseconds and the counts in layout order.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// replica is one recorded process and the target kind covtop replays it through.
type replica struct {
	Name string `json:"name"`
	Kind string `json:"kind"` // "goc" (v1 center) or "goc-v2"

	cmd   *exec.Cmd
	app   string
	agent string
}

// step is one tester request: at an offset, to a replica.
type step struct {
	at      time.Duration
	replica string
	path    string
}

// The tester's session: a search warm-up, orders with and without coupons, a bad coupon,
// out-of-stock and unknown books, bulk orders, spread over the replicas with pauses. Only the
// canary (replayed through goc v2) sees the STUDENT coupon, so its lines are covered only when
// both kinds of target are merged. STAFF is never tried, so its case stays missed at the end,
// as in a real review.
var script = []step{
	{3 * time.Second, "a", "/search?q=go"},
	{5 * time.Second, "b", "/search?q=java"},
	{8 * time.Second, "a", "/order?id=b1&qty=1"},
	{12 * time.Second, "b", "/order?id=b2&qty=1&coupon=WELCOME10"},
	{15 * time.Second, "a", "/search?q="},
	{19 * time.Second, "b", "/order?id=b1&qty=1&coupon=FREEBOOKS"},
	{23 * time.Second, "a", "/order?id=b3&qty=1"},
	{27 * time.Second, "b", "/order?id=b9&qty=1"},
	{30 * time.Second, "a", "/order?id=b1&qty=many"},
	{34 * time.Second, "canary", "/order?id=b1&qty=2&coupon=student"},
	{39 * time.Second, "a", "/order?id=b1&qty=3"},
	{43 * time.Second, "b", "/order?id=b1&qty=4&coupon=WELCOME10"},
	{47 * time.Second, "canary", "/search?q=data"},
	{51 * time.Second, "b", "/order?id=b2&qty=3"},
	{55 * time.Second, "a", "/order?id=b2&qty=2&coupon=welcome10"},
}

// Background traffic: a monitor searching every few seconds on the v1 replicas, so counts keep
// growing between the tester's steps, as they do on a shared test environment.
const monitorEvery = 4 * time.Second

func main() {
	bin := flag.String("bin", "", "the instrumented bookstore binary")
	out := flag.String("out", "", "where to write the recording (JSON)")
	every := flag.Duration("every", 2*time.Second, "capture interval")
	length := flag.Duration("length", 60*time.Second, "session length")
	flag.Parse()
	if *bin == "" || *out == "" {
		log.Fatal("usage: session -bin BOOKSTORE -out RECORDING.json")
	}
	replicas := []*replica{
		{Name: "a", Kind: "goc"},
		{Name: "b", Kind: "goc"},
		{Name: "canary", Kind: "goc-v2"},
	}
	for _, r := range replicas {
		if err := r.start(*bin); err != nil {
			stopAll(replicas)
			log.Fatal(err)
		}
	}
	defer stopAll(replicas)
	byName := map[string]*replica{}
	for _, r := range replicas {
		byName[r.Name] = r
	}

	type capture struct {
		replica string
		at      time.Duration
		profile string
	}
	var (
		mu       sync.Mutex
		captures []capture
		failed   error
	)
	start := time.Now()
	captureAll := func() {
		at := time.Since(start)
		for _, r := range replicas {
			p, err := get(r.agent + "/v1/cover/profile")
			mu.Lock()
			if err != nil && failed == nil {
				failed = fmt.Errorf("capture of %s at %v: %v", r.Name, at, err)
			}
			captures = append(captures, capture{r.Name, at.Round(time.Millisecond), p})
			mu.Unlock()
		}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(*every)
		defer tick.Stop()
		captureAll()
		for {
			select {
			case <-tick.C:
				captureAll()
			case <-done:
				return
			}
		}
	}()
	go func() {
		defer wg.Done()
		tick := time.NewTicker(monitorEvery)
		defer tick.Stop()
		n := 0
		for {
			select {
			case <-tick.C:
				for _, name := range []string{"a", "b"} {
					get(byName[name].app + "/search?q=" + []string{"go", "practice", "design"}[n%3])
				}
				n++
			case <-done:
				return
			}
		}
	}()
	for _, s := range script {
		time.Sleep(time.Until(start.Add(s.at)))
		r := byName[s.replica]
		_, err := get(r.app + s.path)
		log.Printf("%6.1fs %-6s %s (%v)", time.Since(start).Seconds(), s.replica, s.path, errText(err))
	}
	time.Sleep(time.Until(start.Add(*length)))
	close(done)
	wg.Wait()
	captureAll()
	if failed != nil {
		log.Fatal(failed)
	}

	// The layout: every capture must hold the same blocks (the replicas run one build).
	var layout *profileLayout
	var rec recording
	rec.Replicas = nil
	for _, r := range replicas {
		rec.Replicas = append(rec.Replicas, *r)
	}
	for _, c := range captures {
		l, counts, err := parseProfile(c.profile)
		if err != nil {
			log.Fatalf("capture of %s at %v: %v", c.replica, c.at, err)
		}
		if layout == nil {
			layout = l
			rec.Mode = l.mode
			rec.Files = l.files
		} else if !layout.same(l) {
			log.Fatalf("capture of %s at %v has another block layout", c.replica, c.at)
		}
		rec.Captures = append(rec.Captures, captureJSON{Replica: c.replica, AtMs: c.at.Milliseconds(), Counts: counts})
	}
	sort.SliceStable(rec.Captures, func(i, j int) bool { return rec.Captures[i].AtMs < rec.Captures[j].AtMs })
	rec.Format = 1
	rec.Module = "example.com/bookstore"
	rec.EveryMs = every.Milliseconds()
	rec.Recorded = "scripts/record-demo.sh: " + goVersion()
	if err := writeRecording(*out, &rec); err != nil {
		log.Fatal(err)
	}
	log.Printf("wrote %s: %d captures of %d blocks", *out, len(rec.Captures), layout.blocks())
}

func errText(err error) string {
	if err != nil {
		return err.Error()
	}
	return "ok"
}

func goVersion() string {
	out, err := exec.Command("go", "version").Output()
	if err != nil {
		return "go version unknown"
	}
	return strings.TrimSpace(string(out))
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (r *replica) start(bin string) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	r.app = fmt.Sprintf("http://127.0.0.1:%d", port)
	r.cmd = exec.Command(bin, "-addr", fmt.Sprintf("127.0.0.1:%d", port))
	r.cmd.Env = append(os.Environ(), "GOC_AGENT_ADDR=127.0.0.1:0", "GOC_CENTER=")
	stderr, err := r.cmd.StderrPipe()
	if err != nil {
		return err
	}
	if err := r.cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %v", bin, err)
	}
	lines := bufio.NewScanner(stderr)
	for lines.Scan() {
		if u := strings.TrimPrefix(lines.Text(), "goc agent listening on "); u != lines.Text() {
			r.agent = strings.TrimSpace(u)
			break
		}
	}
	if r.agent == "" {
		return fmt.Errorf("replica %s exited before its agent listened", r.Name)
	}
	go io.Copy(io.Discard, stderr)
	// Ready when the app answers; the readiness probe hits no handler (404 from the mux).
	for i := 0; i < 200; i++ {
		if _, err := get(r.app + "/ready"); err == nil {
			return nil
		}
		time.Sleep(25 * time.Millisecond)
	}
	return fmt.Errorf("replica %s never answered on %s", r.Name, r.app)
}

func stopAll(rs []*replica) {
	for _, r := range rs {
		if r.cmd != nil && r.cmd.Process != nil {
			r.cmd.Process.Kill()
			r.cmd.Wait()
		}
	}
}

// get returns the body of any answer (4xx bodies included: the tester expects some errors).
func get(url string) (string, error) {
	client := http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

type recording struct {
	Format   int           `json:"format"`
	Recorded string        `json:"recorded"`
	Module   string        `json:"module"`
	Mode     string        `json:"mode"`
	EveryMs  int64         `json:"every_ms"`
	Replicas []replica     `json:"replicas"`
	Files    []fileLayout  `json:"files"`
	Captures []captureJSON `json:"captures"`
}

type fileLayout struct {
	Name string `json:"name"`
	// Blocks in counter order: start line, start column, end line, end column, statements.
	Blocks [][5]int `json:"blocks"`
}

type captureJSON struct {
	Replica string   `json:"replica"`
	AtMs    int64    `json:"at_ms"`
	Counts  []uint64 `json:"counts"`
}

type profileLayout struct {
	mode  string
	files []fileLayout
}

func (l *profileLayout) blocks() int {
	n := 0
	for _, f := range l.files {
		n += len(f.Blocks)
	}
	return n
}

func (l *profileLayout) same(o *profileLayout) bool {
	a, _ := json.Marshal(l.files)
	b, _ := json.Marshal(o.files)
	return l.mode == o.mode && string(a) == string(b)
}

// parseProfile reads an agent body: files come in map order, blocks of a file in counter
// order. The layout orders files by name and keeps each file's counter order.
func parseProfile(text string) (*profileLayout, []uint64, error) {
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	if len(lines) == 0 || !strings.HasPrefix(lines[0], "mode: ") {
		return nil, nil, fmt.Errorf("no mode line")
	}
	type block struct {
		pos   [5]int
		count uint64
	}
	files := map[string][]block{}
	for i, line := range lines[1:] {
		colon := strings.LastIndex(line, ":")
		fields := strings.Fields(line[colon+1:])
		if colon < 0 || len(fields) != 3 {
			return nil, nil, fmt.Errorf("line %d: %q", i+2, line)
		}
		var b block
		if _, err := fmt.Sscanf(fields[0], "%d.%d,%d.%d", &b.pos[0], &b.pos[1], &b.pos[2], &b.pos[3]); err != nil {
			return nil, nil, fmt.Errorf("line %d: %q: %v", i+2, line, err)
		}
		n, err1 := strconv.Atoi(fields[1])
		c, err2 := strconv.ParseUint(fields[2], 10, 64)
		if err1 != nil || err2 != nil {
			return nil, nil, fmt.Errorf("line %d: %q", i+2, line)
		}
		b.pos[4], b.count = n, c
		files[line[:colon]] = append(files[line[:colon]], b)
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	l := &profileLayout{mode: strings.TrimPrefix(lines[0], "mode: ")}
	var counts []uint64
	for _, n := range names {
		f := fileLayout{Name: n}
		for _, b := range files[n] {
			f.Blocks = append(f.Blocks, b.pos)
			counts = append(counts, b.count)
		}
		l.files = append(l.files, f)
	}
	return l, counts, nil
}

// writeRecording writes one capture per line so diffs of a re-recording stay readable.
func writeRecording(path string, rec *recording) error {
	var sb strings.Builder
	head := func(key string, v interface{}) {
		b, _ := json.Marshal(v)
		fmt.Fprintf(&sb, "  %q: %s,\n", key, b)
	}
	sb.WriteString("{\n")
	head("format", rec.Format)
	head("recorded", rec.Recorded)
	head("module", rec.Module)
	head("mode", rec.Mode)
	head("every_ms", rec.EveryMs)
	head("replicas", rec.Replicas)
	sb.WriteString("  \"files\": [\n")
	for i, f := range rec.Files {
		b, _ := json.Marshal(f)
		sb.Write(b)
		if i+1 < len(rec.Files) {
			sb.WriteString(",")
		}
		sb.WriteString("\n")
	}
	sb.WriteString("  ],\n  \"captures\": [\n")
	for i, c := range rec.Captures {
		b, _ := json.Marshal(c)
		sb.Write(b)
		if i+1 < len(rec.Captures) {
			sb.WriteString(",")
		}
		sb.WriteString("\n")
	}
	sb.WriteString("  ]\n}\n")
	return os.WriteFile(path, []byte(sb.String()), 0o644)
}
