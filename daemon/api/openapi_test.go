package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	wire "github.com/hookd/hookd/internal/api"
)

// stubConfig satisfies ConfigStore; the OpenAPI tests call none of its
// methods (any call would panic on the nil interface).
type stubConfig struct{ ConfigStore }

func openapiServer(t *testing.T) *Server {
	t.Helper()
	s, err := New(Deps{Config: stubConfig{}}, Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// openapiDoc parses the embedded document.
func openapiDoc(t *testing.T) map[string]any {
	t.Helper()
	var doc map[string]any
	dec := json.NewDecoder(bytes.NewReader(openapiDocument))
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("openapi.json is not valid JSON: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		t.Fatalf("openapi.json holds more than one JSON value")
	}
	return doc
}

// httpMethods are the operation keys of an OpenAPI path item.
var httpMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

func obj(t *testing.T, v any, what string) map[string]any {
	t.Helper()
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("%s: want an object, got %T", what, v)
	}
	return m
}

func TestOpenAPIDocument(t *testing.T) {
	s := openapiServer(t)
	doc := openapiDoc(t)

	if v, _ := doc["openapi"].(string); !strings.HasPrefix(v, "3.1.") {
		t.Errorf("openapi = %q, want 3.1.x", v)
	}
	info := obj(t, doc["info"], "info")
	if info["title"] != "hookd" || info["version"] != "1" {
		t.Errorf("info title/version = %v/%v, want hookd/1", info["title"], info["version"])
	}
	components := obj(t, doc["components"], "components")
	schemes := obj(t, components["securitySchemes"], "components.securitySchemes")
	bearer := obj(t, schemes["bearer"], "securitySchemes.bearer")
	if bearer["type"] != "http" || !strings.EqualFold(fmt.Sprint(bearer["scheme"]), "bearer") {
		t.Errorf("securitySchemes.bearer = %v, want http bearer", bearer)
	}

	paths := obj(t, doc["paths"], "paths")
	routes := s.Routes()
	if len(routes) == 0 {
		t.Fatal("the server has no routes")
	}
	known := map[string]bool{}
	opIDs := map[string]string{}
	for _, rt := range routes {
		method := strings.ToLower(rt.Method)
		name := rt.Method + " " + rt.Pattern
		known[method+" "+rt.Pattern] = true
		item, ok := paths[rt.Pattern].(map[string]any)
		if !ok {
			t.Errorf("%s: path %s missing from the document", name, rt.Pattern)
			continue
		}
		o, ok := item[method].(map[string]any)
		if !ok {
			t.Errorf("%s: no %s operation in the document", name, method)
			continue
		}
		id, _ := o["operationId"].(string)
		switch {
		case id == "":
			t.Errorf("%s: no operationId", name)
		case opIDs[id] != "":
			t.Errorf("%s: operationId %s is also %s's", name, id, opIDs[id])
		default:
			opIDs[id] = name
		}
		if o["summary"] != rt.Summary {
			t.Errorf("%s: summary %q, want the route's %q", name, o["summary"], rt.Summary)
		}
		checkSecurity(t, name, rt.Scope, o)
		checkPathParams(t, doc, name, rt.Pattern, item, o)
		checkResponses(t, name, rt, o)
	}

	// No stale entries: every operation is a route.
	for p, v := range paths {
		item := obj(t, v, "paths."+p)
		for key := range item {
			if !slices.Contains(httpMethods, key) {
				continue
			}
			if !known[key+" "+p] {
				t.Errorf("the document describes %s %s, which is no route", strings.ToUpper(key), p)
			}
		}
	}

	checkRefs(t, doc)
}

// checkSecurity: scoped routes need the bearer scheme and name the scope;
// public routes need nothing.
func checkSecurity(t *testing.T, name, scope string, o map[string]any) {
	t.Helper()
	sec, ok := o["security"].([]any)
	if !ok {
		t.Errorf("%s: no security requirement (public routes need security: [])", name)
		return
	}
	if scope == "" {
		if len(sec) != 0 {
			t.Errorf("%s: a public route with security %v", name, sec)
		}
		if _, ok := o["x-hookd-scope"]; ok {
			t.Errorf("%s: a public route with x-hookd-scope", name)
		}
		return
	}
	if len(sec) != 1 {
		t.Errorf("%s: security %v, want [{bearer: []}]", name, sec)
	} else if req, ok := sec[0].(map[string]any); !ok || len(req) != 1 || req["bearer"] == nil {
		t.Errorf("%s: security %v, want [{bearer: []}]", name, sec)
	}
	if got, _ := o["x-hookd-scope"].(string); got != scope {
		t.Errorf("%s: x-hookd-scope %q, want %q", name, got, scope)
	}
	if desc, _ := o["description"].(string); !strings.Contains(desc, "`"+scope+"`") {
		t.Errorf("%s: the description does not name the scope %s", name, scope)
	}
}

var pathParamRe = regexp.MustCompile(`\{([^}]+)\}`)

// checkPathParams: the pattern's {params} and the declared path
// parameters (path item's and operation's) are the same set.
func checkPathParams(t *testing.T, doc map[string]any, name, pattern string, item, o map[string]any) {
	t.Helper()
	var want []string
	for _, m := range pathParamRe.FindAllStringSubmatch(pattern, -1) {
		want = append(want, strings.TrimSuffix(m[1], "..."))
	}
	var got []string
	for _, list := range []any{item["parameters"], o["parameters"]} {
		params, _ := list.([]any)
		for _, p := range params {
			pm, ok := p.(map[string]any)
			if !ok {
				t.Errorf("%s: a parameter that is not an object", name)
				continue
			}
			if r, ok := pm["$ref"].(string); ok {
				res, err := resolveRef(doc, r)
				if err != nil {
					continue // reported by checkRefs
				}
				pm, _ = res.(map[string]any)
			}
			if pm["in"] == "path" {
				got = append(got, fmt.Sprint(pm["name"]))
				if pm["required"] != true {
					t.Errorf("%s: path parameter %v is not required", name, pm["name"])
				}
			}
		}
	}
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(want, got) {
		t.Errorf("%s: path parameters %v, want %v", name, got, want)
	}
}

// checkResponses: a success status; scoped routes answer 401 and 403.
func checkResponses(t *testing.T, name string, rt Route, o map[string]any) {
	t.Helper()
	rs, ok := o["responses"].(map[string]any)
	if !ok || len(rs) == 0 {
		t.Errorf("%s: no responses", name)
		return
	}
	success := false
	for code := range rs {
		n, err := strconv.Atoi(code)
		if err != nil || n < 100 || n > 599 {
			t.Errorf("%s: response %q is not a status code", name, code)
			continue
		}
		if n >= 200 && n < 300 {
			success = true
		}
	}
	if !success {
		t.Errorf("%s: no 2xx response", name)
	}
	if rt.Scope != "" {
		for _, code := range []string{"401", "403"} {
			if rs[code] == nil {
				t.Errorf("%s: no %s response", name, code)
			}
		}
	}
}

// checkRefs: every $ref is local and resolves within components.
func checkRefs(t *testing.T, doc map[string]any) {
	t.Helper()
	n := 0
	var walk func(v any, at string)
	walk = func(v any, at string) {
		switch x := v.(type) {
		case map[string]any:
			if r, ok := x["$ref"]; ok {
				n++
				rs, _ := r.(string)
				if !strings.HasPrefix(rs, "#/components/") {
					t.Errorf("%s: $ref %v does not point into components", at, r)
				} else if _, err := resolveRef(doc, rs); err != nil {
					t.Errorf("%s: $ref %s: %v", at, rs, err)
				}
			}
			for k, c := range x {
				walk(c, at+"/"+k)
			}
		case []any:
			for i, c := range x {
				walk(c, at+"/"+strconv.Itoa(i))
			}
		}
	}
	walk(doc, "#")
	if n == 0 {
		t.Error("the document has no $ref at all")
	}
}

// resolveRef follows a local JSON pointer ("#/a/b").
func resolveRef(doc map[string]any, ref string) (any, error) {
	p, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return nil, errString("not a local reference")
	}
	var cur any = doc
	for _, tok := range strings.Split(p, "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, errString("nothing at " + tok)
		}
		if cur, ok = m[tok]; !ok {
			return nil, errString("no " + tok)
		}
	}
	return cur, nil
}

type errString string

func (e errString) Error() string { return string(e) }

// TestOpenAPISchemas checks that the wire types are all described.
func TestOpenAPISchemas(t *testing.T) {
	doc := openapiDoc(t)
	schemas := obj(t, obj(t, doc["components"], "components")["schemas"], "components.schemas")
	for _, name := range []string{
		"Endpoint", "EndpointInput", "EndpointCreated", "RetryPolicy", "ExponentialRetry", "DisableRequest",
		"RotateSecretRequest", "RotateSecretResponse", "EndpointStats", "PublishEventRequest", "PublishEventResponse",
		"Attempt", "Delivery", "EventStatus", "DeadLetter", "DeadLetterFilter", "ReplayRequest", "DryRunResult",
		"DiscardRequest", "DiscardResult", "ReplayOneResponse", "ReplayJob", "APIKey", "CreateKeyRequest",
		"KeyCreated", "Error", "Duration",
		"EndpointPage", "AttemptPage", "DeliveryPage", "DeadLetterPage", "ReplayJobPage", "APIKeyPage",
	} {
		if _, ok := schemas[name].(map[string]any); !ok {
			t.Errorf("components.schemas.%s missing", name)
		}
	}
	// The error body: {"error":{code,message,fields,request_id}}.
	errProps := obj(t, obj(t, obj(t, schemas["Error"], "Error")["properties"], "Error.properties")["error"], "Error.properties.error")
	props := obj(t, errProps["properties"], "Error.error.properties")
	for _, f := range []string{"code", "message", "fields", "request_id"} {
		if props[f] == nil {
			t.Errorf("the Error schema lacks error.%s", f)
		}
	}

	// Each schema has exactly the JSON fields of its Go type, and requires
	// only fields that are always sent.
	types := map[string]any{
		"Endpoint": wire.Endpoint{}, "EndpointInput": wire.EndpointInput{}, "EndpointCreated": wire.EndpointCreated{},
		"RetryPolicy": wire.RetryPolicy{}, "ExponentialRetry": wire.ExponentialRetry{}, "DisableRequest": wire.DisableRequest{},
		"RotateSecretRequest": wire.RotateSecretRequest{}, "RotateSecretResponse": wire.RotateSecretResponse{},
		"EndpointStats": wire.EndpointStats{}, "PublishEventRequest": wire.PublishEventRequest{},
		"PublishEventResponse": wire.PublishEventResponse{}, "Attempt": wire.Attempt{}, "Delivery": wire.Delivery{},
		"EventStatus": wire.EventStatus{}, "DeadLetter": wire.DeadLetter{}, "DeadLetterFilter": wire.DeadLetterFilter{},
		"ReplayRequest": wire.ReplayRequest{}, "DryRunResult": wire.DryRunResult{}, "DiscardRequest": wire.DiscardRequest{},
		"DiscardResult": wire.DiscardResult{}, "ReplayOneResponse": wire.ReplayOneResponse{}, "ReplayJob": wire.ReplayJob{},
		"APIKey": wire.APIKey{}, "CreateKeyRequest": wire.CreateKeyRequest{}, "KeyCreated": wire.KeyCreated{},
		"Error":        wire.ErrorBody{},
		"EndpointPage": pageBody[wire.Endpoint]{}, "AttemptPage": pageBody[wire.Attempt]{},
		"DeliveryPage": pageBody[wire.Delivery]{}, "DeadLetterPage": pageBody[wire.DeadLetter]{},
		"ReplayJobPage": pageBody[wire.ReplayJob]{}, "APIKeyPage": pageBody[wire.APIKey]{},
	}
	for name, v := range types {
		sch, ok := schemas[name].(map[string]any)
		if !ok {
			continue // reported above
		}
		checkSchemaFields(t, name, sch, reflect.TypeOf(v))
	}
	checkSchemaFields(t, "Error.error", errProps, reflect.TypeOf(wire.Error{}))
}

// checkSchemaFields compares a schema's properties with a struct's JSON
// fields; a required property must not be omitempty or omitzero.
func checkSchemaFields(t *testing.T, name string, sch map[string]any, typ reflect.Type) {
	t.Helper()
	fields := map[string]bool{} // JSON name → always sent
	for f := range typ.Fields() {
		tag := f.Tag.Get("json")
		n, opts, _ := strings.Cut(tag, ",")
		if n == "-" || !f.IsExported() {
			continue
		}
		if n == "" {
			n = f.Name
		}
		fields[n] = !strings.Contains(","+opts+",", ",omitempty,") && !strings.Contains(","+opts+",", ",omitzero,")
	}
	props, _ := sch["properties"].(map[string]any)
	for p := range props {
		if _, ok := fields[p]; !ok {
			t.Errorf("schema %s: property %s is no field of %s", name, p, typ)
		}
	}
	for f := range fields {
		if _, ok := props[f]; !ok {
			t.Errorf("schema %s: no property for %s's field %s", name, typ, f)
		}
	}
	req, _ := sch["required"].([]any)
	required := map[string]bool{}
	for _, r := range req {
		required[fmt.Sprint(r)] = true
		if always, ok := fields[fmt.Sprint(r)]; ok && !always {
			t.Errorf("schema %s: %v is required but %s omits it when empty", name, r, typ)
		}
	}
	// Request bodies are decoded strictly (additionalProperties false) and
	// their fields default; in what the server sends, every field that is
	// always there is required.
	if sch["additionalProperties"] != false {
		for f, always := range fields {
			if always && !required[f] {
				t.Errorf("schema %s: %s always sends %s, but it is not required", name, typ, f)
			}
		}
	}
}

func TestOpenAPIServed(t *testing.T) {
	s := openapiServer(t)
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/openapi.json", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /openapi.json: %d %s", rec.Code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	if !bytes.Equal(rec.Body.Bytes(), openapiDocument) {
		t.Error("the body is not the embedded document")
	}
	onDisk, err := os.ReadFile("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(rec.Body.Bytes(), onDisk) {
		t.Error("the body is not openapi.json")
	}
}
