package cli

import (
	"strings"
	"testing"

	"github.com/hookd/hookd/internal/cmdutil"
	"github.com/hookd/hookd/internal/iostreams"
)

func run(t *testing.T, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ios, in, out, errOut := iostreams.Test()
	in.WriteString(stdin)
	root := NewCmdRoot(&Factory{IOStreams: ios})
	root.SetArgs(args)
	cmd, err := root.ExecuteC()
	cmdutil.PrintError(errOut, cmd, err)
	return out.String(), errOut.String(), cmdutil.ExitCode(err)
}

// A body piped on stdin is verified byte for byte, trailing newline included.
func TestSignThenVerifyThroughStdin(t *testing.T) {
	body := "{\"order\": 42}\n"
	headers, _, code := run(t, body, "sign", "--secret", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "--timestamp", "1700000000")
	if code != 0 {
		t.Fatalf("sign exit %d", code)
	}
	args := []string{"verify", "--secret", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "--now", "1700000060"}
	for _, line := range strings.Split(strings.TrimSpace(headers), "\n") {
		args = append(args, "-H", line)
	}
	out, errOut, code := run(t, body, args...)
	if code != cmdutil.ExitOK || !strings.HasPrefix(out, "valid standard signature") {
		t.Fatalf("verify: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	out, _, code = run(t, strings.TrimSpace(body), args...)
	if code != cmdutil.ExitFailure || !strings.Contains(out, "no_matching_signature") {
		t.Fatalf("verify without the newline: exit %d, stdout %q", code, out)
	}
}

func TestVerifyExitCodes(t *testing.T) {
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	cases := []struct {
		args []string
		want int
	}{
		{[]string{"verify", "--secret", secret, "--body", "x", "-H", "webhook-id: m", "-H", "webhook-timestamp: 1", "-H", "webhook-signature: v1,AAAA", "--ignore-timestamp"}, cmdutil.ExitFailure},
		{[]string{"verify", "--body", "x"}, cmdutil.ExitUsage},
		{[]string{"verify", "--secret", secret, "--body", "x", "--scheme", "nope"}, cmdutil.ExitUsage},
		{[]string{"verify", "--secret", secret, "--body", "x", "-o", "yaml"}, cmdutil.ExitUsage},
		{[]string{"verify", "--secret", secret, "--body", "x", "--tolerance", "soon"}, cmdutil.ExitUsage},
		{[]string{"verify", "stray"}, cmdutil.ExitUsage},
		{[]string{"verify", "--secret", secret, "--body", "x", "--request-file", "r.http"}, cmdutil.ExitUsage},
	}
	for _, tc := range cases {
		if _, errOut, code := run(t, "", tc.args...); code != tc.want {
			t.Errorf("%v: exit %d, want %d (stderr %q)", tc.args, code, tc.want, errOut)
		}
	}
}
