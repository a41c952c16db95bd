import type { FastifyReply } from 'fastify';
import type { ApiKeyPrincipal } from '../keys/access-policy.js';
import { html, type SafeHtml } from './html-template.js';

export interface LayoutOptions {
  title: string;
  /** The path of the nav entry to mark as current. */
  current?: string;
  principal?: ApiKeyPrincipal;
  /** Extra scripts this page needs (uPlot for charts). */
  scripts?: readonly string[];
  styles?: readonly string[];
  /** Query string carried by the nav links, so project, range and zone stay as chosen. */
  carry?: string;
}

const NAV: readonly [string, string][] = [
  ['/', 'Overview'],
  ['/runs', 'Runs'],
  ['/agents', 'Agents'],
  ['/failures', 'Failures'],
  ['/integrity', 'Integrity'],
];

/** The shell of every page: no inline script or style, so the CSP can forbid both. */
export function pageLayout(options: LayoutOptions, body: SafeHtml): SafeHtml {
  const { principal } = options;
  const carry = options.carry ?? '';
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${options.title} · Execution Ledger</title>
<link rel="icon" href="data:,">
${(options.styles ?? []).map((name) => html`<link rel="stylesheet" href="/assets/${name}">`)}
<link rel="stylesheet" href="/assets/dashboard.css">
${(options.scripts ?? []).map((name) => html`<script src="/assets/${name}" defer></script>`)}
<script src="/assets/dashboard.js" defer></script>
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="masthead">
  <span class="brand">Execution Ledger</span>
  ${
    principal === undefined
      ? ''
      : html`<nav aria-label="Pages"><ul>${NAV.map(
          ([path, label]) =>
            html`<li><a href="${path}${carry}"${options.current === path ? html` aria-current="page"` : ''}>${label}</a></li>`,
        )}</ul></nav>
  <form class="who" method="post" action="/sign-out">
    <span>Signed in with key <strong>${principal.name}</strong> (${principal.role}${
      principal.projects === null ? ', every project' : `, ${principal.projects.join(', ')}`
    })</span>
    <button type="submit">Sign out</button>
  </form>`
  }
</header>
<main id="main">
<h1>${options.title}</h1>
${body}
</main>
</body>
</html>`;
}

/** A notice for a caller or operating error: the message, never a stack. */
export function errorNotice(message: string, code?: string): SafeHtml {
  return html`<p class="notice error" role="alert" data-code="${code ?? ''}">${message}</p>`;
}

/** A rendered page, never cached: it shows one key's data. */
export function sendPage(reply: FastifyReply, page: SafeHtml): FastifyReply {
  return reply.type('text/html; charset=utf-8').header('cache-control', 'no-store').send(page.text);
}
