/* global history, location */
import { api, forgetKey, getKey, handleUnauthorized, setKey } from './api.js';
import { setUpAdmin, showAdmin } from './admin.js';
import { setUpAsk, showAsk } from './ask.js';
import { byId, describeError } from './dom.js';
import { setUpDocuments, showDocuments } from './documents.js';
import { setUpUpload } from './upload.js';

const PAGES = { upload: () => {}, documents: showDocuments, ask: showAsk, admin: showAdmin };

/** Stores a key passed in the URL fragment (`#key=...`, printed by the server on its first start) and removes it from the address bar. */
function takeKeyFromFragment() {
  const match = /(?:^#|&)key=([^&]+)/.exec(location.hash);
  if (match === null) return;
  setKey(decodeURIComponent(match[1]));
  history.replaceState(null, '', `${location.pathname}#upload`);
}

function askForKey(message = '') {
  const dialog = byId('key-dialog');
  byId('key-error').textContent = message;
  if (!dialog.open) dialog.showModal();
}

async function checkKey() {
  try {
    const key = await api('/whoami');
    const scope = key.collections === null ? '' : ` for ${key.collections.join(', ')}`;
    byId('whoami').textContent =
      `Signed in with ${key.role === 'admin' ? 'an' : 'a'} ${key.role} key${scope}`;
    return true;
  } catch (error) {
    askForKey(describeError(error));
    return false;
  }
}

function showPage() {
  const name = location.hash.slice(1) in PAGES ? location.hash.slice(1) : 'upload';
  for (const section of document.querySelectorAll('.page')) section.hidden = section.id !== `page-${name}`;
  for (const link of document.querySelectorAll('nav a')) {
    if (link.dataset.page === name) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  void PAGES[name]();
}

function start() {
  takeKeyFromFragment();
  handleUnauthorized((error) => askForKey(describeError(error)));
  setUpUpload();
  setUpDocuments();
  setUpAsk();
  setUpAdmin();

  byId('key-form').addEventListener('submit', (event) => {
    event.preventDefault();
    setKey(byId('key-input').value);
    byId('key-input').value = '';
    byId('key-dialog').close();
    void checkKey().then((ok) => ok && showPage());
  });
  byId('forget-key').addEventListener('click', () => {
    forgetKey();
    byId('whoami').textContent = '';
    askForKey();
  });
  window.addEventListener('hashchange', showPage);

  if (getKey() === '') askForKey();
  else void checkKey();
  showPage();
}

start();
