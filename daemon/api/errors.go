package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	wire "github.com/hookd/hookd/internal/api"
	"github.com/hookd/hookd/internal/domain"
	"github.com/hookd/hookd/storage"
)

// Error is an API error (see internal/api).
type Error = wire.Error

// Error codes.
const (
	CodeInvalidRequest       = wire.CodeInvalidRequest
	CodeUnauthorized         = wire.CodeUnauthorized
	CodeForbidden            = wire.CodeForbidden
	CodeNotFound             = wire.CodeNotFound
	CodeMethodNotAllowed     = wire.CodeMethodNotAllowed
	CodeConflict             = wire.CodeConflict
	CodePayloadTooLarge      = wire.CodePayloadTooLarge
	CodeUnsupportedMediaType = wire.CodeUnsupportedMediaType
	CodeUnavailable          = wire.CodeUnavailable
	CodeInternal             = wire.CodeInternal
)

func badRequest(msg string, fields map[string]string) *Error {
	return &Error{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Message: msg, Fields: fields}
}

func badField(field, format string, args ...any) *Error {
	return badRequest("invalid request: "+field, map[string]string{field: fmt.Sprintf(format, args...)})
}

func notFound(format string, args ...any) *Error {
	return &Error{Status: http.StatusNotFound, Code: CodeNotFound, Message: fmt.Sprintf(format, args...)}
}

func unavailable(what string) *Error {
	return &Error{Status: http.StatusServiceUnavailable, Code: CodeUnavailable, Message: what + " is not available in this hookd process"}
}

// writeError answers with err as a JSON error body. Errors the API does
// not know are logged with the request id and answered 500 without
// detail, so that internals (queries, addresses) do not leak.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var e *Error
	var ve *domain.ValidationError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &e):
	case errors.As(err, &ve):
		e = badRequest("invalid request", ve.Fields)
	case errors.As(err, &mbe):
		e = &Error{Status: http.StatusRequestEntityTooLarge, Code: CodePayloadTooLarge, Message: fmt.Sprintf("request body larger than %d bytes", mbe.Limit)}
	case errors.Is(err, storage.ErrNotFound):
		e = notFound("%s", err.Error())
	case errors.Is(err, storage.ErrConflict):
		e = &Error{Status: http.StatusConflict, Code: CodeConflict, Message: err.Error()}
	case errors.Is(err, storage.ErrInvalidCursor):
		e = badField("cursor", "not a cursor this list made (use next_cursor from the previous page, with the same filters)")
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		return // the client left; nobody to answer
	case errors.Is(err, context.DeadlineExceeded):
		s.log.Warn("request timed out", "request_id", requestIDOf(r), "error", err)
		e = &Error{Status: http.StatusServiceUnavailable, Code: CodeUnavailable, Message: "a dependency did not answer in time; retry later"}
	default:
		s.log.Error("request failed", "request_id", requestIDOf(r), "method", r.Method, "path", r.URL.Path, "error", err)
		e = &Error{Status: http.StatusInternalServerError, Code: CodeInternal, Message: "internal error (request id " + requestIDOf(r) + ")"}
	}
	body := wire.ErrorBody{Error: *e}
	body.Error.RequestID = requestIDOf(r)
	status := e.Status
	if status == 0 {
		status = http.StatusInternalServerError
	}
	writeJSON(w, status, body)
}

// writeJSON answers with v as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, `{"error":{"code":"internal","message":"response not encodable"}}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// decodeJSON reads a JSON request body into v: at most max bytes, one
// value, no unknown fields, Content-Type application/json (or none).
// Errors name the offending field where the decoder knows it.
func decodeJSON(r *http.Request, w http.ResponseWriter, limit int64, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return &Error{Status: http.StatusUnsupportedMediaType, Code: CodeUnsupportedMediaType, Message: "the body must be JSON (Content-Type: application/json)"}
		}
	}
	body := http.MaxBytesReader(w, r.Body, limit)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if dec.More() {
		return badRequest("the body must hold one JSON value", nil)
	}
	if _, err := dec.Token(); err != io.EOF {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return badRequest("the body must hold one JSON value", nil)
	}
	return nil
}

func jsonError(err error) error {
	var mbe *http.MaxBytesError
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &mbe):
		return err
	case errors.Is(err, io.EOF):
		return badRequest("the body is empty; send a JSON object", nil)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return badRequest("the body is not valid JSON: it ends too soon", nil)
	case errors.As(err, &syn):
		return badRequest(fmt.Sprintf("the body is not valid JSON (at byte %d)", syn.Offset), nil)
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "body"
		}
		return badField(field, "must be %s, not %s", jsonKind(typ.Type.Kind().String()), typ.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return badField(name, "unknown field")
	}
	// Errors of custom decoders (durations, times) say what is wrong.
	return badRequest("invalid request: "+strings.TrimPrefix(err.Error(), "json: "), nil)
}

func jsonKind(k string) string {
	switch k {
	case "string":
		return "a string"
	case "slice", "array":
		return "an array"
	case "map", "struct":
		return "an object"
	case "bool":
		return "true or false"
	}
	return "a number"
}
