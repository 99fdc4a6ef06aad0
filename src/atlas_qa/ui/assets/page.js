// The page tab mounts when first shown, with the page already in it; later pages arrive as value changes. Either
// way, wait until the mark is on screen, bring it to the middle and move the focus into the page view.
const reveal = () => {
  let tries = 0;
  const go = () => {
    const m = element.querySelector('mark') || element.querySelector('.passage');
    if (!m) return;
    if (m.offsetParent === null && tries++ < 20) { setTimeout(go, 75); return; }
    m.scrollIntoView({block: 'center'});
    element.querySelector('.aq-pageview')?.focus({preventScroll: true});
  };
  setTimeout(go, 50);
};
reveal();
watch('value', reveal);
