package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// EnvPrefix starts every environment variable hookd reads.
const EnvPrefix = "HOOKD_"

// maxFileBytes bounds a configuration file.
const maxFileBytes = 1 << 20

// Options say where settings come from, lowest precedence first.
type Options struct {
	// File is a YAML file; empty means none.
	File string
	// Environ is the process environment, as os.Environ returns it.
	Environ []string
	// Flags are values from the command line, by key
	// (e.g. "http.addr": ":9090").
	Flags map[string]string
	// WithoutEncryptionKey is for commands that never touch secrets
	// (migrate): the key is then not required.
	WithoutEncryptionKey bool
}

// Loaded is a configuration and where each setting came from.
type Loaded struct {
	Config
	sources    map[string]string
	withoutKey bool
}

// Source says where the value of key came from: "default", "file F",
// "environment HOOKD_X" or "flag".
func (l *Loaded) Source(key string) string {
	if s, ok := l.sources[key]; ok {
		return s
	}
	return "default"
}

// Error is a bad setting: its key, where it came from, and what is wrong.
type Error struct {
	Key    string
	Source string
	Msg    string
}

func (e *Error) Error() string {
	if e.Source == "" || e.Source == "default" {
		return fmt.Sprintf("config: %s: %s", e.Key, e.Msg)
	}
	return fmt.Sprintf("config: %s (from %s): %s", e.Key, e.Source, e.Msg)
}

// Load reads the configuration and validates it.
func Load(o Options) (*Loaded, error) {
	l := &Loaded{Config: Defaults(), sources: map[string]string{}}
	byKey := map[string]field{}
	for _, f := range fieldsOf(&l.Config) {
		byKey[f.key] = f
	}
	if o.File != "" {
		if err := l.loadFile(o.File, byKey); err != nil {
			return nil, err
		}
	}
	env := map[string]string{}
	for _, kv := range o.Environ {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, EnvPrefix) {
			env[k] = v
		}
	}
	for _, f := range byKey {
		if v, ok := env[f.env]; ok {
			src := "environment " + f.env
			if err := f.set(v); err != nil {
				return nil, &Error{Key: f.key, Source: src, Msg: err.Error()}
			}
			l.sources[f.key] = src
		}
	}
	keys := make([]string, 0, len(o.Flags))
	for k := range o.Flags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		f, ok := byKey[k]
		if !ok {
			return nil, &Error{Key: k, Source: "flag", Msg: "unknown setting"}
		}
		if err := f.set(o.Flags[k]); err != nil {
			return nil, &Error{Key: k, Source: "flag", Msg: err.Error()}
		}
		l.sources[k] = "flag"
	}
	l.withoutKey = o.WithoutEncryptionKey
	if err := l.validate(); err != nil {
		return nil, err
	}
	return l, nil
}

func (l *Loaded) loadFile(path string, byKey map[string]field) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	if fi.Size() > maxFileBytes {
		return fmt.Errorf("config file %s is larger than %d KiB", path, maxFileBytes>>10)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	src := "file " + path
	var walk func(prefix string, m map[string]any) error
	walk = func(prefix string, m map[string]any) error {
		for k, v := range m {
			key := prefix + k
			if sub, ok := v.(map[string]any); ok {
				if _, leaf := byKey[key]; !leaf {
					if err := walk(key+".", sub); err != nil {
						return err
					}
					continue
				}
			}
			if _, ok := byKey[key]; !ok {
				return &Error{Key: key, Source: src, Msg: "unknown setting (see `hookd config keys`)"}
			}
			l.sources[key] = src
		}
		return nil
	}
	if err := walk("", doc); err != nil {
		return err
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&l.Config); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	return nil
}

// field is one setting, found by walking the Config struct.
type field struct {
	key    string
	env    string
	help   string
	secret bool
	v      reflect.Value
}

func fieldsOf(c *Config) []field {
	var out []field
	var walk func(prefix string, v reflect.Value)
	walk = func(prefix string, v reflect.Value) {
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			sf := t.Field(i)
			name, _, _ := strings.Cut(sf.Tag.Get("yaml"), ",")
			if name == "" || name == "-" {
				continue
			}
			fv := v.Field(i)
			if sf.Type.Kind() == reflect.Struct && sf.Type != reflect.TypeOf(time.Time{}) {
				walk(prefix+name+".", fv)
				continue
			}
			key := prefix + name
			out = append(out, field{
				key:    key,
				env:    EnvPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "_")),
				help:   sf.Tag.Get("help"),
				secret: sf.Tag.Get("secret") == "true",
				v:      fv,
			})
		}
	}
	walk("", reflect.ValueOf(c).Elem())
	return out
}

var durationType = reflect.TypeOf(time.Duration(0))

// set parses s into the field: strings as they are, lists comma-separated,
// durations as Go durations (90s, 5m, 24h).
func (f field) set(s string) error {
	s = strings.TrimSpace(s)
	switch {
	case f.v.Type() == durationType:
		d, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("%q is not a duration (e.g. 500ms, 15s, 24h)", s)
		}
		f.v.SetInt(int64(d))
	case f.v.Kind() == reflect.String:
		f.v.SetString(s)
	case f.v.Kind() == reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("%q is not true or false", s)
		}
		f.v.SetBool(b)
	case f.v.Kind() == reflect.Int || f.v.Kind() == reflect.Int64:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return fmt.Errorf("%q is not a whole number", s)
		}
		f.v.SetInt(n)
	case f.v.Kind() == reflect.Slice && f.v.Type().Elem().Kind() == reflect.String:
		var items []string
		for _, p := range strings.Split(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				items = append(items, p)
			}
		}
		f.v.Set(reflect.ValueOf(items))
	default:
		return fmt.Errorf("cannot set a %s", f.v.Type())
	}
	return nil
}

// Key describes one setting for `hookd config keys`.
type Key struct {
	Key    string `json:"key"`
	Env    string `json:"env"`
	Help   string `json:"help"`
	Secret bool   `json:"secret,omitempty"`
}

// Keys lists every setting, sorted by key.
func Keys() []Key {
	c := Defaults()
	fs := fieldsOf(&c)
	out := make([]Key, len(fs))
	for i, f := range fs {
		out[i] = Key{Key: f.key, Env: f.env, Help: f.help, Secret: f.secret}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// Redacted returns the settings as key → value with secrets hidden, for
// printing.
func (l *Loaded) Redacted() map[string]string {
	out := map[string]string{}
	for _, f := range fieldsOf(&l.Config) {
		v := fmt.Sprint(f.v.Interface())
		if f.v.Type() == durationType {
			v = time.Duration(f.v.Int()).String()
		}
		if f.v.Kind() == reflect.Slice {
			list, _ := f.v.Interface().([]string)
			v = strings.Join(list, ",")
		}
		if f.secret && v != "" {
			v = "(redacted)"
		}
		out[f.key] = v
	}
	return out
}
