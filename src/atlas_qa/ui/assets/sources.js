// Installed once by the sources panel: a click on an answer's [n] marker shows that source (at once when its card
// is on screen, else through the server, which renders that turn's sources) and moves the focus to its card;
// "Open page" asks the server for the page (page.js then moves the focus into the page view).
const focusCard = (card) => {
  card.closest('details')?.setAttribute('open', '');
  const box = card.closest('.aq-sources');
  if (box && card === box.querySelector('.aq-card')) {
    box.scrollTo({top: 0, behavior: 'smooth'}); box.scrollIntoView({behavior: 'smooth', block: 'nearest'});
  }
  else card.scrollIntoView({behavior: 'smooth', block: 'nearest'});
  card.classList.remove('aq-flash'); void card.offsetWidth; card.classList.add('aq-flash');
  // Keyboard users land on the card: the next Tab reaches its "Open page".
  if (!card.hasAttribute('tabindex')) card.setAttribute('tabindex', '-1');
  card.focus({preventScroll: true});
};
window.__atlasQaTrigger = trigger;
if (!window.__atlasQaClicks) {
  window.__atlasQaClicks = true;
  document.addEventListener('click', (e) => {
    const a = e.target.closest ? e.target.closest('a.aq-cite') : null;
    if (!a) return;
    e.preventDefault(); e.stopPropagation();
    const id = (a.getAttribute('href') || '').replace(/^#/, '');
    const card = document.getElementById(id);
    if (card && card.offsetParent !== null) focusCard(card);
    else window.__atlasQaTrigger('click', {cite: id});
  }, true);
}
element.addEventListener('click', (e) => {
  const b = e.target.closest('[data-open]');
  if (b) { e.preventDefault(); trigger('click', {open: b.getAttribute('data-open')}); }
});
watch('value', () => {
  const f = element.querySelector('.aq-card.aq-focus');
  if (f) setTimeout(() => focusCard(f), 60);
});
// Screen readers hear each chat message as its text: Gradio labels a message with its raw HTML (our escaped markup;
// DOMParser builds an inert document, nothing in it runs).
const parser = new DOMParser();
const relabel = () => {
  document.querySelectorAll('#aq-chat [aria-label]').forEach((m) => {
    const label = m.getAttribute('aria-label') || '';
    const cut = label.indexOf(': <');
    if (cut < 0) return;
    const text = parser.parseFromString(label.slice(cut + 2), 'text/html').body.textContent || '';
    m.setAttribute('aria-label', label.slice(0, cut + 2) + text.replace(/\s+/g, ' ').trim());
  });
};
const watchChat = (tries) => {  // the chat may mount after this panel
  const chat = document.getElementById('aq-chat');
  if (!chat) { if (tries < 100) setTimeout(() => watchChat(tries + 1), 100); return; }
  if (chat.__aqLabels) return;
  chat.__aqLabels = true;
  new MutationObserver(relabel).observe(chat, {subtree: true, childList: true, characterData: true,
                                                attributes: true, attributeFilter: ['aria-label']});
  relabel();
};
watchChat(0);
// The question box gets the focus on load without scrolling the page (on a phone it sits below the fold); it may
// mount after this panel.
const focusBox = (tries) => {
  const box = document.querySelector('#aq-box textarea');
  if (box) box.focus({preventScroll: true});
  else if (tries < 100) setTimeout(() => focusBox(tries + 1), 100);
};
if (!window.__atlasQaFocused) { window.__atlasQaFocused = true; focusBox(0); }
// A dropdown closes when the focus leaves it (Gradio's stays open when Tab moves on): Escape, as a keyboard user would.
if (!window.__atlasQaDropdowns) {
  window.__atlasQaDropdowns = true;
  document.addEventListener('focusout', (e) => {
    const input = e.target;
    if (!(input instanceof HTMLInputElement) || input.getAttribute('role') !== 'combobox') return;
    const box = input.closest('.block');
    if (box && e.relatedTarget && box.contains(e.relatedTarget)) return;
    input.dispatchEvent(new KeyboardEvent('keydown', {key: 'Escape', bubbles: true}));
  }, true);
}
