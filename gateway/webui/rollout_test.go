package webui_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/scribegate/scribegate/gateway"
	"github.com/scribegate/scribegate/gateway/rolloutapi/rolloutapitest"
	"github.com/scribegate/scribegate/review"
	"github.com/scribegate/scribegate/review/rollout"
)

// TestRolloutPage renders the rollout page over a seeded 90-day history
// of two pilot groups, under the page's Content Security Policy: the
// charting library loads from the binary, every chart draws, the tiles
// and the table show the figures the API gives; axe-core finds no
// violation on a desktop or a phone, and the page is screenshotted
// ($WEBUI_SCREENSHOTS keeps the PNGs).
func TestRolloutPage(t *testing.T) {
	h, _ := rolloutapitest.Seeded(t, 23, 90)
	e := newEnvWith(t, func(_ string, o *gateway.Options) { o.Rollout = h })
	tok := mint(t, "rev-1", "Reviewer One", "c1", review.RoleReviewer)
	var want rollout.Report
	query := "since=2026-03-02&until=2026-05-31&group_by=clinician"
	if code := e.call(t, "GET", "/v1/metrics/rollout?"+query, tok, "", &want); code != 200 {
		t.Fatalf("GET /v1/metrics/rollout: %d", code)
	}

	bctx := browser(t)
	var violations []string
	if err := chromedp.Run(bctx,
		chromedp.ActionFunc(func(ctx context.Context) error {
			_, err := page.AddScriptToEvaluateOnNewDocument(`window.cspViolations = [];
				document.addEventListener('securitypolicyviolation', (e) => window.cspViolations.push(e.violatedDirective + ' ' + e.blockedURI));`).Do(ctx)
			return err
		}),
		chromedp.EmulateViewport(1280, 900),
		signIn(e.url, tok, "#/rollout?"+query),
		waitJS(`document.body.dataset.rollout === 'ready'`),
		chromedp.Evaluate(`window.cspViolations`, &violations),
	); err != nil {
		t.Fatal(err)
	}
	if len(violations) > 0 {
		t.Errorf("the page broke its Content Security Policy: %v", violations)
	}
	// Every chart drew something: a canvas with coloured pixels.
	var drawn map[string]int
	var tiles, rows int
	var status string
	if err := chromedp.Run(bctx,
		chromedp.Evaluate(`Object.fromEntries([...document.querySelectorAll('canvas')].map((c) => {
			const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
			let n = 0;
			for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 0 && !(d[i] > 240 && d[i + 1] > 240 && d[i + 2] > 240)) n++;
			return [c.id, n];
		}))`, &drawn),
		chromedp.Evaluate(`document.querySelectorAll('.tile').length`, &tiles),
		chromedp.Evaluate(`document.querySelectorAll('#rollout-table tbody tr').length`, &rows),
		chromedp.Text(`.rollout .status`, &status, chromedp.ByQuery),
	); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"chart-turnaround", "chart-backlog", "chart-edits", "chart-groups"} {
		if drawn[id] < 500 {
			t.Errorf("chart %s: %d coloured pixels (drawn: %v)", id, drawn[id], drawn)
		}
	}
	if tiles != len(want.Groups) || rows != 1+len(want.Groups)+len(want.Rows) {
		t.Errorf("%d tiles and %d table rows; want %d and %d", tiles, rows, len(want.Groups), 1+len(want.Groups)+len(want.Rows))
	}
	if !strings.HasPrefix(status, fmt.Sprintf("%d visits", want.Total.Visits)) {
		t.Errorf("status %q, want %d visits", status, want.Total.Visits)
	}
	var groupText string
	if err := chromedp.Run(bctx, chromedp.Text(`.tile[data-group="wave-1"]`, &groupText, chromedp.ByQuery)); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(groupText, fmt.Sprint(want.Groups[0].Visits)) || want.Groups[0].Key != "wave-1" {
		t.Errorf("wave-1 tile %q, want its %d visits", groupText, want.Groups[0].Visits)
	}
	screenshot(t, bctx, "rollout-1280.png")

	// Accessibility and layout, on a desktop and a phone (axe is injected,
	// so the policy is set aside for this part).
	axe := axeSource(t)
	if err := chromedp.Run(bctx, page.SetBypassCSP(true)); err != nil {
		t.Fatal(err)
	}
	for _, size := range []struct{ w, h int }{{1280, 900}, {390, 844}} {
		if err := chromedp.Run(bctx, screenOf(size.w, size.h), chromedp.Navigate(e.url+"/#/rollout?"+query), chromedp.Reload(),
			waitJS(`document.body.dataset.rollout === 'ready'`)); err != nil {
			t.Fatal(err)
		}
		checkPage(t, bctx, axe, "rollout", size.w)
	}
}
