package integration

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// docCommand is one gateway or client command line from a document.
type docCommand struct {
	file string
	line int
	text string
	prog string   // "gateway" or "client"
	args []string // after the program name
}

// docFiles are the documents whose commands must stay true.
func docFiles(t *testing.T) []string {
	t.Helper()
	files := []string{filepath.Join("..", "README.md")}
	more, err := filepath.Glob(filepath.Join("..", "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	return append(files, more...)
}

// shellWords splits a command line on spaces, keeping quoted strings
// together (without their quotes) and dropping a trailing # comment.
func shellWords(s string) []string {
	var words []string
	var cur strings.Builder
	quote := rune(0)
	inWord := false
	for _, r := range s {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == '#' && !inWord:
			return words
		case r == ' ' || r == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words
}

// inlineCommand is a gateway or client command in a code span, such as a
// reference table's `gateway revoke --config FILE --name NAME`.
var inlineCommand = regexp.MustCompile("`((?:gateway|client) [a-z][a-z-]*[^`]*)`")

// docCommands finds every gateway and client command in the sh code blocks
// of file (after any `sudo -u USER`, `VAR=value` or directory prefix) and
// in code spans elsewhere; optional parts in brackets count as used.
func docCommands(t *testing.T, file string) []docCommand {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []docCommand
	inSh := false
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "```sh") || strings.HasPrefix(line, "```bash"):
			inSh = true
			continue
		case strings.HasPrefix(line, "```"):
			inSh = false
			continue
		}
		if !inSh {
			for _, m := range inlineCommand.FindAllStringSubmatch(line, -1) {
				if !strings.Contains(m[1], " -") {
					continue // prose such as "client disconnected", not a command line
				}
				words := shellWords(strings.NewReplacer(`\|`, "|", "[", " ", "]", " ", "...", " ").Replace(m[1]))
				out = append(out, docCommand{file: file, line: n, text: m[1], prog: words[0], args: words[1:]})
			}
			continue
		}
		words := shellWords(line)
		for len(words) > 0 {
			switch {
			case words[0] == "sudo" && len(words) > 2 && words[1] == "-u":
				words = words[3:]
				continue
			case strings.Contains(words[0], "=") && !strings.HasPrefix(words[0], "-"):
				words = words[1:]
				continue
			}
			break
		}
		if len(words) == 0 {
			continue
		}
		if prog := filepath.Base(words[0]); prog == "gateway" || prog == "client" {
			out = append(out, docCommand{file: file, line: n, text: line, prog: prog, args: words[1:]})
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

var helpFlag = regexp.MustCompile(`(?m)^\s+(?:-(\w), )?--([\w-]+)`)

// TestDocumentedCommands runs `PROG SUBCOMMAND --help` for every gateway and
// client command line in the README and docs/, and checks that the
// subcommand exists and takes every flag the line uses, so the documents
// cannot name a command or flag the programs do not have. (The commands are
// run for real by the other tests: init, allow, revoke, check, serve,
// doctor, rotate-token-key, forward, proxy, request, services, token.)
func TestDocumentedCommands(t *testing.T) {
	needClient(t)
	bins := map[string]string{"gateway": gatewayBin, "client": clientBin}
	checked := 0
	for _, file := range docFiles(t) {
		for _, c := range docCommands(t, file) {
			var sub []string
			if len(c.args) > 0 && !strings.HasPrefix(c.args[0], "-") {
				sub = c.args[:1] // every documented command is one level deep
			}
			res := runCmd(t, nil, bins[c.prog], append(append([]string{}, sub...), "--help")...)
			where := filepath.Base(c.file) + ":" + strconv.Itoa(c.line)
			usage := c.prog + " " + strings.Join(sub, " ")
			if res.code != 0 || !strings.Contains(res.stdout, "Usage:\n  "+strings.TrimSpace(usage)) {
				t.Errorf("%s: %q: no such command %q (help: %s)", where, c.text, usage, res)
				continue
			}
			flags := map[string]bool{}
			for _, m := range helpFlag.FindAllStringSubmatch(res.stdout, -1) {
				flags["--"+m[2]] = true
				if m[1] != "" {
					flags["-"+m[1]] = true
				}
			}
			for _, a := range c.args {
				if !strings.HasPrefix(a, "-") || a == "-" {
					continue
				}
				name, _, _ := strings.Cut(a, "=")
				if !flags[name] {
					t.Errorf("%s: %q: %s does not take %s", where, c.text, usage, name)
				}
			}
			checked++
		}
	}
	if checked < 20 {
		t.Errorf("checked %d documented commands; the README alone has more: is the extraction broken?", checked)
	}
	t.Logf("checked %d documented gateway/client commands", checked)
}
