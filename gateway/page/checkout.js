/* Progressive help for the hosted checkout page; the page works without it.
 * Open form: the total follows the quantity as it is typed (the server
 * recomputes it on every submit). Processing: asks the status route every 2 s
 * and reloads the page once the state changed. */
(function () {
  'use strict';
  var totals = document.getElementById('totals');
  var quantity = document.getElementById('quantity');
  if (totals && quantity && window.Intl) {
    var d = totals.dataset;
    var exp = parseInt(d.exponent, 10) || 0;
    var fmt = new Intl.NumberFormat(d.locale, {style: 'currency', currency: d.currency,
      minimumFractionDigits: exp, maximumFractionDigits: exp});
    var show = function (id, minor) {
      var el = document.getElementById(id);
      if (el) el.textContent = fmt.format(minor / Math.pow(10, exp));
    };
    quantity.addEventListener('input', function () {
      var q = parseInt(quantity.value, 10);
      if (!(q >= 1 && q <= parseInt(quantity.max, 10))) return;
      var line = parseInt(d.unit, 10) * q;
      var bp = parseInt(d.percentBp, 10) || 0, off = parseInt(d.amountOff, 10) || 0;
      var discount = bp > 0 ? Math.floor((line * bp + 5000) / 10000) : Math.min(off, line);
      show('line-total', line);
      show('discount', discount);
      show('total', line - discount);
    });
  }
  var refresh = document.getElementById('refresh');
  if (refresh && window.fetch) {
    var state = document.querySelector('main').dataset.state;
    var poll = function () {
      fetch(refresh.dataset.status, {credentials: 'same-origin', cache: 'no-store'})
        .then(function (r) { return r.json(); })
        .then(function (s) {
          if (s.state !== state) window.location.replace(refresh.href);
          else setTimeout(poll, 2000);
        })
        .catch(function () { setTimeout(poll, 4000); });
    };
    setTimeout(poll, 2000);
  }
})();
