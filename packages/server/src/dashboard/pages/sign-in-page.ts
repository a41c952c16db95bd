import { html, type SafeHtml } from '../html-template.js';
import { pageLayout } from '../page-layout.js';

export interface SignInView {
  next: string;
  /** Why the last attempt failed, and its error code. */
  message?: string;
  code?: string;
  /** A neutral word (signed out, session ended). */
  info?: string;
}

export function signInPage(view: SignInView): SafeHtml {
  return pageLayout(
    { title: 'Sign in' },
    html`<form class="sign-in" method="post" action="/sign-in">
  ${view.info === undefined ? '' : html`<p class="notice" role="status">${view.info}</p>`}
  ${view.message === undefined ? '' : html`<p class="notice error" role="alert" id="sign-in-error" data-code="${view.code ?? ''}">${view.message}</p>`}
  <p>Sign in with an API key of role <strong>read</strong> or <strong>admin</strong>. The key is checked once and
  never stored in your browser: the session cookie holds only its id, signed by this server.</p>
  <label for="key">API key</label>
  <input id="key" name="key" type="password" autocomplete="off" required
    ${view.message === undefined ? '' : html`aria-describedby="sign-in-error" aria-invalid="true"`}>
  <input type="hidden" name="next" value="${view.next}">
  <button type="submit">Sign in</button>
</form>`,
  );
}
