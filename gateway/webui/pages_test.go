package webui_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/scribegate/scribegate/review"
)

// axeVersion is the axe-core the page is checked with, installed from npm
// into a cache folder outside the repository on first use.
const axeVersion = "4.10.3"

// axeSource returns axe-core's script. It installs the npm package into
// $AXE_CORE_DIR (default: the user cache folder) when missing; without
// npm the test is skipped on a developer's machine and fails in CI.
func axeSource(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("AXE_CORE_DIR")
	if dir == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			cache = os.TempDir()
		}
		dir = filepath.Join(cache, "scribegate", "axe-core-"+axeVersion)
	}
	script := filepath.Join(dir, "node_modules", "axe-core", "axe.min.js")
	if b, err := os.ReadFile(script); err == nil {
		return string(b)
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("npm is required in CI to install axe-core (make deps installs it)")
		}
		t.Skip("npm not found: the accessibility checks need axe-core from npm")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(npm, "install", "--no-save", "--no-package-lock", "--no-audit", "--no-fund", "--prefix", dir, "axe-core@"+axeVersion)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm install axe-core@%s: %v\n%s", axeVersion, err, out)
	}
	b, err := os.ReadFile(script)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

type axeViolation struct {
	ID    string   `json:"id"`
	Help  string   `json:"help"`
	Nodes []string `json:"nodes"`
}

// checkPage checks the page on screen at its width: axe-core finds no
// violation, nothing is wider than the window, and on a phone every
// control is at least 44 px high and wide; then it takes a screenshot.
func checkPage(t *testing.T, ctx context.Context, axe, name string, width int) {
	t.Helper()
	var violations []axeViolation
	var scrollWidth, innerWidth int
	var small []string
	if err := chromedp.Run(ctx,
		chromedp.Evaluate(`typeof axe === 'undefined'`, new(bool)),
		chromedp.Evaluate(axe, nil),
		chromedp.Evaluate(`axe.run(document, {resultTypes: ['violations']}).then((r) => r.violations.map((v) => ({
			id: v.id, help: v.help, nodes: v.nodes.slice(0, 5).map((n) => n.target.join(' ') + ': ' + (n.failureSummary || '').slice(0, 160)) })))`,
			&violations, func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }),
		chromedp.Evaluate(`document.scrollingElement.scrollWidth`, &scrollWidth),
		chromedp.Evaluate(`innerWidth`, &innerWidth),
		chromedp.Evaluate(`[...document.querySelectorAll('button, [role=tab], #nav a, .who a, summary, select, input:not([type=checkbox]), td a')]
			.filter((el) => el.offsetParent !== null)
			.map((el) => [el, el.getBoundingClientRect()])
			.filter(([, r]) => r.width < 44 || r.height < 44)
			.map(([el, r]) => (el.id || el.className || el.tagName) + ' ' + Math.round(r.width) + 'x' + Math.round(r.height))`, &small),
	); err != nil {
		t.Fatalf("%s at %d px: %v", name, width, err)
	}
	for _, v := range violations {
		t.Errorf("%s at %d px: axe %s (%s): %s", name, width, v.ID, v.Help, strings.Join(v.Nodes, "; "))
	}
	// A phone's layout viewport grows to fit a page wider than the
	// screen, so innerWidth must also still be the screen's width.
	if scrollWidth > innerWidth || innerWidth != width {
		t.Errorf("%s at %d px: the page is %d px wide in a %d px window", name, width, scrollWidth, innerWidth)
	}
	if width < 600 && len(small) > 0 {
		t.Errorf("%s at %d px: touch targets under 44 px: %s", name, width, strings.Join(small, ", "))
	}
	screenshot(t, ctx, fmt.Sprintf("%s-%d.png", name, width))
}

// screenOf lays the page out on a screen w by h px: one under 600 px
// wide is a phone's (two device pixels to the px, touch).
func screenOf(w, h int) chromedp.EmulateAction {
	if w < 600 {
		return chromedp.EmulateViewport(int64(w), int64(h), chromedp.EmulateScale(2), chromedp.EmulateMobile)
	}
	return chromedp.EmulateViewport(int64(w), int64(h))
}

// TestPagesOnPhonesAndDesktops opens every page, signed out and signed
// in, on a phone (390×844) and a desktop (1280×800): axe-core finds no
// violation, no page is wider than the phone, touch targets are 44 px,
// the links of a signed-in user are hidden while signed out, on the
// phone a citation shows its transcript line beside the sentence, and the
// queue takes in a new note without a reload.
// Screenshots of each go to $WEBUI_SCREENSHOTS (else a temporary folder
// named in the log).
func TestPagesOnPhonesAndDesktops(t *testing.T) {
	axe := axeSource(t)
	e := newEnv(t)
	n := pendingNote(t, e)
	tok := mint(t, "prac-1", "Dr Moore", "clinic-a", review.RoleClinician)
	ctx := browser(t)
	if err := chromedp.Run(ctx, page.SetBypassCSP(true)); err != nil {
		t.Fatal(err)
	}
	for _, size := range []struct{ w, h int }{{390, 844}, {1280, 800}} {
		var navShown bool
		if err := chromedp.Run(ctx,
			screenOf(size.w, size.h),
			chromedp.Navigate(e.url+"/#/signin"),
			chromedp.Evaluate(`sessionStorage.clear()`, nil),
			chromedp.Reload(),
			chromedp.WaitVisible("#token", chromedp.ByID),
			chromedp.Evaluate(`getComputedStyle(document.getElementById('nav')).display !== 'none'`, &navShown),
		); err != nil {
			t.Fatal(err)
		}
		if navShown {
			t.Errorf("at %d px the Recorder and Queue links show while signed out", size.w)
		}
		checkPage(t, ctx, axe, "signin", size.w)

		pages := []struct{ name, hash, ready string }{
			{"recorder", "#/record", `document.querySelector('#template option[value="soap"]') !== null`},
			{"queue", "#/queue", `document.querySelector('#queue-rows tr[data-note]') !== null`},
			{"note", "#/notes/" + n.ID, `document.getElementById('s-0-0') !== null`},
		}
		if err := chromedp.Run(ctx, signIn(e.url, tok, pages[0].hash)); err != nil {
			t.Fatal(err)
		}
		for _, p := range pages {
			if err := chromedp.Run(ctx,
				chromedp.Navigate(e.url+"/"+p.hash),
				waitJS(p.ready),
			); err != nil {
				t.Fatalf("%s at %d px: %v", p.name, size.w, err)
			}
			checkPage(t, ctx, axe, p.name, size.w)
			if p.name == "queue" && size.w >= 600 {
				// A note queued meanwhile shows up without a reload.
				if err := chromedp.Run(ctx, chromedp.Evaluate(`window.notReloaded = 'yes'`, nil)); err != nil {
					t.Fatal(err)
				}
				pendingNote(t, e)
				var marker string
				if err := chromedp.Run(ctx,
					waitJS(`document.querySelectorAll('#queue-rows tr[data-note]').length === 2`),
					chromedp.Evaluate(`window.notReloaded || ''`, &marker),
				); err != nil || marker != "yes" {
					t.Errorf("a new note in the queue: %v, page kept (not reloaded): %q", err, marker)
				}
			}
		}
		if size.w >= 600 {
			continue
		}
		// On the phone a citation opens its transcript line right below
		// the sentence, where the thumb is.
		var gap float64
		var line string
		if err := chromedp.Run(ctx,
			chromedp.Click(`#s-0-0 ~ .cites .chip`, chromedp.ByQuery),
			chromedp.WaitVisible(`#s-0-0-cited`, chromedp.ByID),
			chromedp.Text(`#s-0-0-cited`, &line, chromedp.ByID),
			chromedp.Evaluate(`document.getElementById('s-0-0-cited').getBoundingClientRect().top - document.getElementById('s-0-0').getBoundingClientRect().bottom`, &gap),
		); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(line, "I twisted my right knee") || gap > 120 {
			t.Errorf("at %d px the citation shows %q %.0f px below its sentence", size.w, line, gap)
		}
		screenshot(t, ctx, fmt.Sprintf("note-cited-%d.png", size.w))
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatal("the browser session timed out")
	}
}
