// main.go -- the two bid routes of optimist, written the way a good Go
// developer would with the standard library, as the Go reference of
// `make bench`:
//
//	GET   /v1/bids/{id}   200 with ETag, 304 on If-None-Match, 404
//	PATCH /v1/bids/{id}   {"version": N, "data": {...}} (or If-Match):
//	                      merge patch on data; 200, 409 version_conflict
//	                      with current_version and current, 412, 428, 404
//
// Same contract, same schema and the same SQL as the PHP and Node peers
// (and fcgi/routes_bids.c): the token found by its public key and its
// SHA-256 compared in constant time, every row scoped to the tenant, the
// version checked in the UPDATE itself (the affected rows decide). With a
// version: read, answer a stale version from that read, merge, and an
// UPDATE that checks the version read (no lock, no transaction);
// If-Match: * merges under the row's lock.
//
// Tuned as production Go is: one process (GOMAXPROCS = the cores),
// net/http, database/sql with go-sql-driver/mysql and statements prepared
// once (database/sql keeps them prepared on each pooled connection), a
// pool of BENCH_GO_POOL connections, no per-request logging. The bid's
// data is passed through as json.RawMessage on GET (encoding/json still
// checks and compacts it); a PATCH decodes it to merge.
//
// Built from Debian's golang-go and golang-github-go-sql-driver-mysql-dev
// in GOPATH mode (no module download): see the Makefile's bench rules.
//
// Environment: BENCH_LISTEN (a unix socket path or a port), BENCH_DB_SOCKET,
// BENCH_DB_USER, BENCH_DB_PASSWORD, BENCH_DB_NAME, BENCH_GO_POOL
// (connections, default 32).
package main

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"regexp"
	"strconv"
	"strings"
	"syscall"

	"github.com/go-sql-driver/mysql"
)

const (
	sqlToken = "SELECT tenant_id, token_hash FROM api_tokens " +
		"WHERE lookup_key = ? AND revoked_at IS NULL"
	sqlLoad = "SELECT id, version, status, data, evaluation, lease_until, " +
		"lease_until < UTC_TIMESTAMP(3), created_at, updated_at " +
		"FROM bids WHERE id = ? AND tenant_id = ?"
	// A PATCH with a version: the bid and the database's clock (the new
	// updated_at), then the UPDATE that checks the version read.
	sqlPatchRead = "SELECT id, version, status, data, evaluation, lease_until, " +
		"lease_until < UTC_TIMESTAMP(3), created_at, updated_at, UTC_TIMESTAMP(3) " +
		"FROM bids WHERE id = ? AND tenant_id = ?"
	sqlPatchChecked = "UPDATE bids SET data = ?, " +
		"data_version = data_version + 1, version = version + 1, updated_at = ? " +
		"WHERE id = ? AND tenant_id = ? AND version = ? " +
		"AND status IN ('open', 'evaluating', 'decided')"
	// If-Match: *: the data locked until the transaction ends, then the
	// guarded UPDATE with the merged text.
	sqlDataForUpdate = "SELECT data FROM bids WHERE id = ? AND tenant_id = ? FOR UPDATE"
	sqlPatch         = "UPDATE bids SET data = ?, " +
		"data_version = data_version + 1, version = version + 1, " +
		"updated_at = UTC_TIMESTAMP(3) " +
		"WHERE id = ? AND tenant_id = ? AND version = COALESCE(?, version) " +
		"AND status IN ('open', 'evaluating', 'decided')"

	dataMax    = 1048576
	maxVersion = 4294967295
)

var (
	tokenRE   = regexp.MustCompile(`^opt_([0-9a-f]{16})_[A-Za-z0-9_-]{43}$`)
	idRE      = regexp.MustCompile(`^/v1/bids/([0-9]{1,19})$`)
	jsonCT    = regexp.MustCompile(`(?i)^\s*application/([a-z0-9.+-]*\+)?json\s*(;|$)`)
	ifMatchRE = regexp.MustCompile(`^"([1-9][0-9]{0,9})"$`)
)

type app struct {
	db                                   *sql.DB
	token, load, patchRead, patchChecked *sql.Stmt
	dataForUpdate, patch                 *sql.Stmt
}

type lease struct {
	Until   string `json:"until"`
	Expired bool   `json:"expired"`
}

// The bid as GET returns it.
type bid struct {
	ID         int64           `json:"id"`
	Version    int64           `json:"version"`
	Status     string          `json:"status"`
	Data       json.RawMessage `json:"data"`
	Evaluation json.RawMessage `json:"evaluation"`
	Lease      *lease          `json:"lease"`
	CreatedAt  *string         `json:"created_at"`
	UpdatedAt  *string         `json:"updated_at"`
}

type httpError struct {
	status  int
	code    string
	message string
}

func rfc3339(t sql.NullString) *string {
	if !t.Valid {
		return nil
	}
	s := strings.Replace(t.String, " ", "T", 1) + "Z"
	return &s
}

// scanBid reads SQL_LOAD's columns, and the clock after them if now is
// not nil.
func scanBid(row *sql.Row, now *string) (*bid, error) {
	var b bid
	var data, evaluation []byte
	var leaseUntil, created, updated sql.NullString
	var expired sql.NullInt64
	dest := []interface{}{&b.ID, &b.Version, &b.Status, &data, &evaluation,
		&leaseUntil, &expired, &created, &updated}
	if now != nil {
		dest = append(dest, now)
	}
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	b.Data = data
	if evaluation != nil {
		b.Evaluation = evaluation
	}
	if b.Status == "evaluating" && leaseUntil.Valid {
		b.Lease = &lease{Until: *rfc3339(leaseUntil), Expired: expired.Valid && expired.Int64 == 1}
	}
	b.CreatedAt = rfc3339(created)
	b.UpdatedAt = rfc3339(updated)
	return &b, nil
}

// marshal writes v as JSON without escaping <, > and & (as PHP's
// JSON_UNESCAPED_SLASHES and Node do not either).
func marshal(v interface{}) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

func reply(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	w.Write(body) //nolint:errcheck // the client left: nothing to do
}

func replyJSON(w http.ResponseWriter, status int, v interface{}) {
	body, err := marshal(v)
	if err != nil {
		log.Printf("bench peer: %v", err)
		status, body = 500, []byte(`{"error":"internal","message":"cannot render the answer"}`)
	}
	reply(w, status, body)
}

func errorReply(w http.ResponseWriter, status int, code, message string, extra map[string]interface{}) {
	m := map[string]interface{}{"error": code, "message": message}
	for k, v := range extra {
		m[k] = v
	}
	replyJSON(w, status, m)
}

func unavailable(w http.ResponseWriter, err error) {
	log.Printf("bench peer: %v", err)
	w.Header().Set("Retry-After", "1")
	errorReply(w, 503, "unavailable", "the database cannot be reached", nil)
}

// tenantOf: the tenant of the bearer token, 0 for none or a bad one.
func (a *app) tenantOf(r *http.Request) (int64, error) {
	header := r.Header.Get("Authorization")
	if len(header) < 7 || !strings.EqualFold(header[:7], "bearer ") {
		return 0, nil
	}
	token := strings.Trim(header[7:], " ")
	m := tokenRE.FindStringSubmatch(token)
	if m == nil {
		return 0, nil
	}
	var tenant int64
	var stored []byte
	err := a.token.QueryRow(m[1]).Scan(&tenant, &stored)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	sum := sha256.Sum256([]byte(token))
	if subtle.ConstantTimeCompare(stored, sum[:]) != 1 {
		return 0, nil
	}
	return tenant, nil
}

func (a *app) serveBid(w http.ResponseWriter, r *http.Request) {
	m := idRE.FindStringSubmatch(r.URL.Path)
	if m == nil {
		errorReply(w, 404, "not_found", "no such route", nil)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodPatch {
		w.Header().Set("Allow", "GET, PATCH")
		errorReply(w, 405, "method_not_allowed", r.Method+" is not allowed here", nil)
		return
	}
	tenant, err := a.tenantOf(r)
	if err != nil {
		unavailable(w, err)
		return
	}
	if tenant == 0 {
		w.Header().Set("WWW-Authenticate", "Bearer")
		errorReply(w, 401, "unauthorized", "unknown or revoked token", nil)
		return
	}
	id, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil {
		errorReply(w, 404, "not_found", "no such resource", nil)
		return
	}
	if r.Method == http.MethodGet {
		a.getBid(w, r, id, tenant)
	} else {
		a.patchBid(w, r, id, tenant)
	}
}

func (a *app) getBid(w http.ResponseWriter, r *http.Request, id, tenant int64) {
	b, err := scanBid(a.load.QueryRow(id, tenant), nil)
	if errors.Is(err, sql.ErrNoRows) {
		errorReply(w, 404, "not_found", "no such resource", nil)
		return
	}
	if err != nil {
		unavailable(w, err)
		return
	}
	etag := `"` + strconv.FormatInt(b.Version, 10) + `"`
	w.Header().Set("ETag", etag)
	if r.Header.Get("If-None-Match") == etag {
		w.WriteHeader(304)
		return
	}
	replyJSON(w, 200, b)
}

// decode parses JSON text keeping numbers as they were written.
func decode(text []byte, v interface{}) error {
	dec := json.NewDecoder(bytes.NewReader(text))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}

// mergePatch is RFC 7396: objects merge, null removes, anything else
// replaces.
func mergePatch(target, patch interface{}) interface{} {
	p, ok := patch.(map[string]interface{})
	if !ok {
		return patch
	}
	t, ok := target.(map[string]interface{})
	if !ok {
		t = map[string]interface{}{}
	}
	for name, value := range p {
		if value == nil {
			delete(t, name)
		} else {
			t[name] = mergePatch(t[name], value)
		}
	}
	return t
}

func conflictReply(w http.ResponseWriter, use412 bool, cur *bid) {
	w.Header().Set("ETag", `"`+strconv.FormatInt(cur.Version, 10)+`"`)
	status, code := 409, "version_conflict"
	if use412 {
		status, code = 412, "precondition_failed"
	}
	errorReply(w, status, code, "the version sent is not the current one",
		map[string]interface{}{"current_version": cur.Version, "current": cur})
}

func archivedReply(w http.ResponseWriter, cur *bid) {
	w.Header().Set("ETag", `"`+strconv.FormatInt(cur.Version, 10)+`"`)
	errorReply(w, 409, "invalid_state", "not allowed while the bid is archived",
		map[string]interface{}{"status": cur.Status, "current_version": cur.Version, "current": cur})
}

// mergeInto merges patch into the data text; nil and an error reply sent
// if the result would be too large.
func mergeInto(w http.ResponseWriter, data []byte, patch interface{}) []byte {
	var cur interface{}
	if err := decode(data, &cur); err != nil {
		cur = nil
	}
	merged, err := marshal(mergePatch(cur, patch))
	if err != nil {
		errorReply(w, 400, "bad_request", "the merged data cannot be written", nil)
		return nil
	}
	if len(merged) > dataMax {
		errorReply(w, 400, "bad_request", "the merged data would be larger than 1048576 bytes", nil)
		return nil
	}
	return merged
}

// patchWithVersion: read, answer a stale version from the read, merge, and
// write only if the version is still the one read: the affected rows decide.
func (a *app) patchWithVersion(w http.ResponseWriter, id, tenant int64, patch interface{}, expect int64, use412 bool) {
	for round := 0; round < 3; round++ {
		var now string
		b, err := scanBid(a.patchRead.QueryRow(id, tenant), &now)
		if errors.Is(err, sql.ErrNoRows) {
			errorReply(w, 404, "not_found", "no such resource", nil)
			return
		}
		if err != nil {
			unavailable(w, err)
			return
		}
		if b.Status == "archived" {
			archivedReply(w, b)
			return
		}
		if b.Version != expect || round == 2 {
			conflictReply(w, use412, b)
			return
		}
		merged := mergeInto(w, b.Data, patch)
		if merged == nil {
			return
		}
		res, err := a.patchChecked.Exec(merged, now, id, tenant, expect)
		if err != nil {
			unavailable(w, err)
			return
		}
		if n, err := res.RowsAffected(); err == nil && n == 1 {
			b.Data = merged
			b.Version = expect + 1
			b.UpdatedAt = rfc3339(sql.NullString{String: now, Valid: true})
			w.Header().Set("ETag", `"`+strconv.FormatInt(b.Version, 10)+`"`)
			replyJSON(w, 200, b)
			return
		}
	}
}

// patchAny: If-Match: *, the merge under the row's lock.
func (a *app) patchAny(w http.ResponseWriter, id, tenant int64, patch interface{}) {
	tx, err := a.db.Begin()
	if err != nil {
		unavailable(w, err)
		return
	}
	defer tx.Rollback() //nolint:errcheck // after Commit: a no-op
	var data []byte
	err = tx.Stmt(a.dataForUpdate).QueryRow(id, tenant).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		errorReply(w, 404, "not_found", "no such resource", nil)
		return
	}
	if err != nil {
		unavailable(w, err)
		return
	}
	merged := mergeInto(w, data, patch)
	if merged == nil {
		return
	}
	res, err := tx.Stmt(a.patch).Exec(merged, id, tenant, nil)
	if err != nil {
		unavailable(w, err)
		return
	}
	n, _ := res.RowsAffected()
	// Inside the transaction: on success our write holds the row lock, so
	// this is exactly the version we made.
	cur, err := scanBid(tx.Stmt(a.load).QueryRow(id, tenant), nil)
	if errors.Is(err, sql.ErrNoRows) {
		errorReply(w, 404, "not_found", "no such resource", nil)
		return
	}
	if err != nil {
		unavailable(w, err)
		return
	}
	if n == 1 {
		if err := tx.Commit(); err != nil {
			unavailable(w, err)
			return
		}
		w.Header().Set("ETag", `"`+strconv.FormatInt(cur.Version, 10)+`"`)
		replyJSON(w, 200, cur)
		return
	}
	if cur.Status == "archived" {
		archivedReply(w, cur)
		return
	}
	conflictReply(w, false, cur)
}

func (a *app) patchBid(w http.ResponseWriter, r *http.Request, id, tenant int64) {
	if !jsonCT.MatchString(r.Header.Get("Content-Type")) {
		errorReply(w, 415, "unsupported_media_type", "the body must be JSON", nil)
		return
	}
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, dataMax))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			errorReply(w, 413, "payload_too_large", "the body is over 1 MiB", nil)
		} else {
			errorReply(w, 400, "bad_request", "the body could not be read", nil)
		}
		return
	}
	var body map[string]interface{}
	if err := decode(raw, &body); err != nil || body == nil {
		if err != nil {
			errorReply(w, 400, "bad_request", "malformed JSON", nil)
		} else {
			errorReply(w, 400, "bad_request", `"data" must be an object`, nil)
		}
		return
	}
	patch, ok := body["data"].(map[string]interface{})
	if !ok {
		errorReply(w, 400, "bad_request", `"data" must be an object`, nil)
		return
	}
	var bodyVersion int64 = -1
	if v, has := body["version"]; has {
		n, isNum := v.(json.Number)
		u, err := strconv.ParseUint(string(n), 10, 64)
		if !isNum || err != nil || u < 1 || u > maxVersion {
			errorReply(w, 400, "bad_request", `"version" must be an integer from 1 to 4294967295`, nil)
			return
		}
		bodyVersion = int64(u)
	}
	var imVersion int64 = -1 // -1: no If-Match; 0: a weak tag, never matches
	use412 := false
	im, hasIM := r.Header["If-Match"]
	if hasIM {
		tag := im[0]
		if m := ifMatchRE.FindStringSubmatch(tag); m != nil {
			if u, err := strconv.ParseUint(m[1], 10, 64); err == nil && u <= maxVersion {
				imVersion = int64(u)
				use412 = bodyVersion < 0
			}
		}
		if imVersion < 0 {
			if strings.HasPrefix(tag, `W/"`) {
				imVersion, use412 = 0, true
			} else if tag != "*" {
				errorReply(w, 400, "bad_request", `If-Match takes "N" or *`, nil)
				return
			}
		}
	}
	if bodyVersion >= 0 && imVersion > 0 && bodyVersion != imVersion {
		errorReply(w, 400, "bad_request", "the body version and If-Match differ", nil)
		return
	}
	expect := bodyVersion
	if expect < 0 {
		expect = imVersion
	}
	if expect < 0 && !(hasIM && im[0] == "*") {
		cur, err := scanBid(a.load.QueryRow(id, tenant), nil)
		if errors.Is(err, sql.ErrNoRows) {
			errorReply(w, 404, "not_found", "no such resource", nil)
		} else if err != nil {
			unavailable(w, err)
		} else {
			errorReply(w, 428, "precondition_required", "send the version you last saw",
				map[string]interface{}{"current_version": cur.Version})
		}
		return
	}
	if expect >= 0 {
		a.patchWithVersion(w, id, tenant, patch, expect, use412)
		return
	}
	a.patchAny(w, id, tenant, patch)
}

func main() {
	log.SetFlags(0)
	pool, _ := strconv.Atoi(os.Getenv("BENCH_GO_POOL"))
	if pool <= 0 {
		pool = 32
	}
	cfg := mysql.NewConfig()
	cfg.Net = "unix"
	cfg.Addr = os.Getenv("BENCH_DB_SOCKET")
	cfg.User = os.Getenv("BENCH_DB_USER")
	cfg.Passwd = os.Getenv("BENCH_DB_PASSWORD")
	cfg.DBName = os.Getenv("BENCH_DB_NAME")
	// The session every implementation uses: UTC, and READ COMMITTED.
	cfg.Params = map[string]string{"time_zone": "'+00:00'",
		"tx_isolation": "'READ-COMMITTED'"}
	cfg.Collation = "utf8mb4_general_ci"
	db, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		log.Fatal(err)
	}
	db.SetMaxOpenConns(pool)
	db.SetMaxIdleConns(pool)
	a := &app{db: db}
	for _, p := range []struct {
		s   **sql.Stmt
		sql string
	}{{&a.token, sqlToken}, {&a.load, sqlLoad}, {&a.patchRead, sqlPatchRead},
		{&a.patchChecked, sqlPatchChecked}, {&a.dataForUpdate, sqlDataForUpdate},
		{&a.patch, sqlPatch}} {
		if *p.s, err = db.Prepare(p.sql); err != nil {
			log.Fatalf("prepare: %v", err)
		}
	}

	mux := http.NewServeMux()
	mux.HandleFunc("/v1/bids/", a.serveBid)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		errorReply(w, 404, "not_found", "no such route", nil)
	})

	listen := os.Getenv("BENCH_LISTEN")
	if listen == "" {
		listen = "8083"
	}
	var ln net.Listener
	if _, err := strconv.Atoi(listen); err == nil {
		ln, err = net.Listen("tcp", "127.0.0.1:"+listen)
		if err != nil {
			log.Fatal(err)
		}
	} else {
		os.Remove(listen) //nolint:errcheck // not there
		ln, err = net.Listen("unix", listen)
		if err != nil {
			log.Fatal(err)
		}
	}
	srv := &http.Server{Handler: mux}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-stop
		srv.Close() //nolint:errcheck // exiting
	}()
	if err := srv.Serve(ln); err != nil && err != http.ErrServerClosed {
		log.Fatal(fmt.Errorf("serve: %w", err))
	}
	db.Close() //nolint:errcheck // exiting
}
