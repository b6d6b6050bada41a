(function(){
  var data = JSON.parse(document.getElementById('report-data').textContent);
  var detail = document.getElementById('detail');
  function esc(s){return String(s).replace(/[&<>"]/g,function(c){return {'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;'}[c];});}
  function show(el){
    var cell = data.cells[el.getAttribute('data-key')] || {vpcs:[],reserved:[],reservations:[]};
    document.querySelectorAll('rect.selected').forEach(function(r){r.classList.remove('selected');});
    el.classList.add('selected');
    var h = '<b>' + esc(el.getAttribute('data-cidr')) + '</b>';
    if (el.classList.contains('conflict')) h += ' <span class="clashmark">&#9888;&#9888; CONFLICT: a network reaches both</span>';
    else if (el.classList.contains('clash')) h += ' <span class="clashmark">&#9888; latent overlap</span>';
    if (cell.reserved.length) h += '<br>reserved range: ' + cell.reserved.map(esc).join(', ');
    cell.reservations.forEach(function(r){ h += '<br><span class="resvmark">' + esc(r) + '</span>'; });
    if (!cell.vpcs.length && !cell.reserved.length && !cell.reservations.length) h += '<br>free';
    else h += '<table><tr><th>VPC</th><th>account</th><th>region</th><th>name</th><th>CIDR</th></tr>' +
      cell.vpcs.map(function(v){return '<tr><td>'+esc(v.VpcId)+(v.Default?' (default)':'')+'</td><td>'+esc(v.OwnerId)+' '+esc(v.AccountName)+
        '</td><td>'+esc(v.Region)+'</td><td>'+esc(v.Name)+'</td><td>'+esc(v.Cidr)+'</td></tr>'+subnetRows(v);}).join('') + '</table>';
    detail.innerHTML = h;
  }
  function bar(pct){return '<span class="bar" role="img" aria-label="'+esc(pct)+'% used"><span style="width:'+Math.min(100,Math.max(0,Number(pct)||0))+'%"></span></span>';}
  function subnetRows(v){
    return (v.Subnets||[]).map(function(s){return '<tr class="subnet"><td colspan="2">&nbsp;&nbsp;'+esc(s[0])+' '+esc(s[4])+'</td><td>'+esc(s[2])+
      '</td><td>'+bar(s[3])+esc(s[3])+'% used</td><td>'+esc(s[1])+'</td></tr>';}).join('');
  }
  // Lookup: which VPC, subnet or reserved range holds an IPv4 address (as `vpctracker lookup`).
  function ip4(text){
    var m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(String(text).trim());
    if (!m) return null;
    var n = 0;
    for (var i = 1; i <= 4; i++) { var o = Number(m[i]); if (o > 255) return null; n = n * 256 + o; }
    return n;
  }
  function inCidr(n, cidr){
    var parts = String(cidr).split('/'); var base = ip4(parts[0]); var len = Number(parts[1]);
    if (base === null || !(len >= 0 && len <= 32)) return false;
    var size = Math.pow(2, 32 - len);
    return n >= base && n < base + size;
  }
  var lookupBox = document.getElementById('lookup');
  var lookupOut = document.getElementById('lookup-result');
  if (lookupBox) lookupBox.addEventListener('input', function(){
    var n = ip4(lookupBox.value);
    if (n === null) { lookupOut.textContent = lookupBox.value.trim() ? 'not an IPv4 address' : ''; return; }
    var seen = {}, lines = [];
    Object.keys(data.cells).forEach(function(k){
      var cell = data.cells[k];
      cell.vpcs.forEach(function(v){
        var key = v.VpcId + ' ' + v.Cidr;
        if (seen[key] || !inCidr(n, v.Cidr)) return;
        seen[key] = 1;
        var sub = (v.Subnets||[]).filter(function(s){return inCidr(n, s[1]);});
        lines.push(esc(v.VpcId)+' '+esc(v.Name)+' '+esc(v.Cidr)+' · '+esc(v.OwnerId)+' '+esc(v.AccountName)+' · '+esc(v.Region)+' · '+
          (sub.length ? esc(sub[0][0])+' '+esc(sub[0][1])+' '+esc(sub[0][2]) : 'in no subnet'));
      });
      cell.reserved.concat(cell.reservations).forEach(function(r){
        var cidr = /([0-9.]+\/[0-9]+)/.exec(r);
        if (cidr && inCidr(n, cidr[1]) && !seen[r]) { seen[r] = 1; lines.push(esc(r)); }
      });
    });
    lookupOut.innerHTML = lines.length ? lines.join('<br>') : 'free: no VPC, reserved range or reservation holds it';
  });
  document.querySelectorAll('rect.cell').forEach(function(r){
    r.addEventListener('mouseenter', function(){show(r);});
    r.addEventListener('click', function(){show(r);});
    r.addEventListener('focus', function(){show(r);});
  });
  // Inventory: every live VPC (the rows of `vpctracker inventory`), sortable, filterable,
  // grouped by region on demand, downloadable as CSV. Rows are drawn from the data, at most
  // LIMIT at a time: a 100,000-VPC page must stay usable (filter, or download the CSV).
  var inv = data.inventory, LIMIT = 2000;
  var invTable = document.getElementById('inv-table');
  if (inv && invTable) {
    var cols = inv.columns, col = {};
    cols.forEach(function(c, i){ col[c] = i; });
    var order = inv.rows.map(function(_, i){ return i; });
    var sortCol = null, sortDir = 1, view = order.slice();
    var invFilter = document.getElementById('inv-filter'), invGroup = document.getElementById('inv-group');
    function text(v){ return v === null || v === undefined ? '' : Array.isArray(v) ? v.join(' ') : typeof v === 'boolean' ? (v ? 'True' : 'False') : String(v); }
    function addrKey(v){ // first block's address, for sorting CIDRs numerically
      var n = ip4(String(text(v)).split(' ')[0].split('/')[0]);
      return n === null ? -1 : n;
    }
    function key(row, c){
      var v = row[col[c]];
      if (c === 'CidrBlocks') return addrKey(v);
      if (typeof v === 'number') return v;
      if (v === null) return -Infinity;
      return text(v).toLowerCase();
    }
    function cidrQuery(q){
      var m = /^(\d{1,3}(?:\.\d{1,3}){3})(?:\/(\d{1,2}))?$/.exec(q);
      if (!m) return null;
      var base = ip4(m[1]), len = m[2] === undefined ? 32 : Number(m[2]);
      if (base === null || len > 32) return null;
      var size = Math.pow(2, 32 - len);
      return [base - base % size, size];
    }
    function overlaps(row, q){
      return (row[col.CidrBlocks] || []).some(function(b){
        var p = String(b).split('/'), n = ip4(p[0]), size = Math.pow(2, 32 - Number(p[1]));
        return n !== null && n < q[0] + q[1] && q[0] < n + size;
      });
    }
    function matches(row, q, cq){
      if (!q) return true;
      if (cq) return overlaps(row, cq);
      return cols.some(function(c){ return text(row[col[c]]).toLowerCase().indexOf(q) !== -1; });
    }
    function compute(){
      var q = invFilter.value.trim().toLowerCase(), cq = cidrQuery(q);
      view = order.filter(function(i){ return matches(inv.rows[i], q, cq); });
      var grouped = invGroup.checked;
      if (sortCol !== null || grouped) view.sort(function(x, y){
        var a = inv.rows[x], b = inv.rows[y], ka, kb;
        if (grouped) { ka = a[col.Region]; kb = b[col.Region]; if (ka !== kb) return ka < kb ? -1 : 1; }
        if (sortCol !== null) { ka = key(a, sortCol); kb = key(b, sortCol); if (ka !== kb) return (ka < kb ? -1 : 1) * sortDir; }
        return x - y; // stable: the inventory's own order (account, region, address)
      });
      draw();
    }
    function draw(){
      var head = invTable.tHead.rows[0];
      head.innerHTML = cols.map(function(c){
        var s = c === sortCol ? (sortDir > 0 ? 'ascending' : 'descending') : 'none';
        return '<th scope="col" tabindex="0" data-col="' + esc(c) + '" aria-sort="' + s + '">' + esc(c) + '</th>';
      }).join('');
      var html = [], region = null, shown = Math.min(view.length, LIMIT);
      for (var k = 0; k < shown; k++) {
        var row = inv.rows[view[k]];
        if (invGroup.checked && row[col.Region] !== region) {
          region = row[col.Region];
          var n = view.filter(function(i){ return inv.rows[i][col.Region] === region; }).length;
          html.push('<tr class="region"><th colspan="' + cols.length + '">' + esc(region) + ' (' + n + ')</th></tr>');
        }
        html.push('<tr class="inv' + (row[col.Stale] ? ' stale' : '') + '" id="vpc-' + esc(row[col.VpcId]) + '">' + cols.map(function(c){ return '<td>' + esc(text(row[col[c]])) + '</td>'; }).join('') + '</tr>');
      }
      invTable.tBodies[0].innerHTML = html.join('');
      document.getElementById('inv-count').textContent = view.length + ' of ' + inv.rows.length + ' VPCs' +
        (view.length > shown ? ' (first ' + shown + ' shown: filter, or download the CSV for all)' : '');
    }
    invTable.tHead.addEventListener('click', function(ev){
      var th = ev.target.closest('th[data-col]');
      if (!th) return;
      var c = th.getAttribute('data-col');
      if (sortCol === c) sortDir = -sortDir; else { sortCol = c; sortDir = 1; }
      compute();
    });
    invTable.tHead.addEventListener('keydown', function(ev){ if (ev.key === 'Enter' && ev.target.click) ev.target.click(); });
    var invTimer = null;
    invFilter.addEventListener('input', function(){ clearTimeout(invTimer); invTimer = setTimeout(compute, 80); });
    invGroup.addEventListener('change', compute);
    // The CSV of what the table shows (every VPC when unfiltered), as `vpctracker inventory
    // --format csv` writes it: every cell quoted, formula-leading text made inert.
    function csvCell(v){
      var s = text(v);
      if (/^[=+\-@\t\r]/.test(s)) s = "'" + s;
      return '"' + s.replace(/"/g, '""') + '"';
    }
    document.getElementById('inv-csv').addEventListener('click', function(){
      var lines = [cols.map(csvCell).join(',')].concat(view.map(function(i){ return inv.rows[i].map(csvCell).join(','); }));
      var blob = new Blob([lines.join('\n') + '\n'], {type: 'text/csv'});
      var a = document.createElement('a');
      a.href = URL.createObjectURL(blob);
      a.download = 'vpc-inventory.csv';
      document.body.appendChild(a); a.click(); a.remove();
      setTimeout(function(){ URL.revokeObjectURL(a.href); }, 1000);
    });
    compute();
    // `#vpc-<id>` (a notification's link to a VPC's finding): the inventory shows that VPC.
    window.goToVpc = function(id){
      invFilter.value = id; compute();
      var row = document.getElementById('vpc-' + id);
      if (row) { row.classList.add('target'); row.scrollIntoView({block: 'center'}); }
      return !!row;
    };
  }
  // `#group-<span>` is a row of the overlap groups (the browser scrolls to it); mark it.
  function goToHash(){
    var h = decodeURIComponent(location.hash.slice(1));
    if (!h) return;
    if (h.indexOf('vpc-') === 0 && window.goToVpc) { window.goToVpc(h.slice(4)); return; }
    var el = document.getElementById(h);
    if (el) { el.classList.add('target'); el.scrollIntoView({block: 'center'}); }
  }
  window.addEventListener('hashchange', goToHash);
  goToHash();
  var filter = document.getElementById('filter');
  var rows = Array.prototype.slice.call(document.querySelectorAll('tr[data-search]'));
  var timer = null;
  function apply(){
    var q = filter.value.trim().toLowerCase();
    var shown = 0;
    rows.forEach(function(tr){
      var hit = !q || tr.getAttribute('data-search').indexOf(q) !== -1;
      tr.classList.toggle('hidden', !hit);
      if (hit) shown++;
    });
    document.getElementById('filter-count').textContent = q ? shown + ' matching rows' : '';
  }
  filter.addEventListener('input', function(){clearTimeout(timer); timer = setTimeout(apply, 80);});
})();
