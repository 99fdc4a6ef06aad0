// Installed once by the sources panel: a click on an answer's [n] marker shows that source (at once when its card
// is on screen, else through the server, which renders that turn's sources); "Open page" asks the server for the page.
const focusCard = (card) => {
  card.closest('details')?.setAttribute('open', '');
  const box = card.closest('.aq-sources');
  if (box && card === box.querySelector('.aq-card')) {
    box.scrollTo({top: 0, behavior: 'smooth'}); box.scrollIntoView({behavior: 'smooth', block: 'nearest'});
  }
  else card.scrollIntoView({behavior: 'smooth', block: 'nearest'});
  card.classList.remove('aq-flash'); void card.offsetWidth; card.classList.add('aq-flash');
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
