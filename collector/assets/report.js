(function(){
  // The data block names each VPC once, gzip-compressed (a 100,000-VPC page is 5 MB, not 30):
  // `vpcs` holds one list per column; everything else refers to a VPC by its row number.
  var holder = document.getElementById('report-data');
  var detail = document.getElementById('detail');
  function esc(s){return String(s).replace(/[&<>"]/g,function(c){return {'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;'}[c];});}
  function load(){
    if (typeof DecompressionStream === 'undefined') return Promise.reject(new Error('this browser has no DecompressionStream (Chrome 80, Firefox 113, Safari 16.4 or later have it)'));
    var bin = atob(holder.textContent.trim()), bytes = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    var stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream('gzip'));
    return new Response(stream).text().then(JSON.parse);
  }
  load().then(start, function(err){
    var text = "The page's data could not be read: " + (err && err.message || err);
    detail.textContent = text;
    document.querySelectorAll('p.loading').forEach(function(p){ p.textContent = text; });
    document.documentElement.setAttribute('data-ready', 'failed');
  });
  function start(data){
  var V = data.vpcs;
  function vpc(i){
    var a = data.accounts[V.Account[i]];
    return {VpcId: V.VpcId[i], OwnerId: a[0], AccountName: a[1], Region: data.regions[V.Region[i]],
      Name: V.Name[i] === null ? '' : V.Name[i], Default: V.IsDefault[i] === 1, Subnets: V.Subnets[i]};
  }
  function subnet(s){ // [id, cidr, zone, used %, name]
    return {id: s[0], cidr: s[1], az: data.zones[s[2]], pct: s[3], name: s.length > 4 ? data.subnet_names[s[4]] : ''};
  }
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
      cell.vpcs.map(function(m){var v = vpc(m[0]); return '<tr><td>'+esc(v.VpcId)+(v.Default?' (default)':'')+'</td><td>'+esc(v.OwnerId)+' '+esc(v.AccountName)+
        '</td><td>'+esc(v.Region)+'</td><td>'+esc(v.Name)+'</td><td>'+esc(m[1])+'</td></tr>'+subnetRows(v);}).join('') + '</table>';
    detail.innerHTML = h;
  }
  function bar(pct){return '<span class="bar" role="img" aria-label="'+esc(pct)+'% used"><span style="width:'+Math.min(100,Math.max(0,Number(pct)||0))+'%"></span></span>';}
  function subnetRows(v){
    return v.Subnets.map(subnet).map(function(s){return '<tr class="subnet"><td colspan="2">&nbsp;&nbsp;'+esc(s.id)+' '+esc(s.name)+'</td><td>'+esc(s.az)+
      '</td><td>'+bar(s.pct)+esc(s.pct)+'% used</td><td>'+esc(s.cidr)+'</td></tr>';}).join('');
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
  function lookup(){
    var n = ip4(lookupBox.value);
    if (n === null) { lookupOut.textContent = lookupBox.value.trim() ? 'not an IPv4 address' : ''; return; }
    var seen = {}, lines = [];
    Object.keys(data.cells).forEach(function(k){
      var cell = data.cells[k];
      cell.vpcs.forEach(function(m){
        var v = vpc(m[0]), key = v.VpcId + ' ' + m[1];
        if (seen[key] || !inCidr(n, m[1])) return;
        seen[key] = 1;
        var sub = v.Subnets.map(subnet).filter(function(s){return inCidr(n, s.cidr);});
        lines.push(esc(v.VpcId)+' '+esc(v.Name)+' '+esc(m[1])+' · '+esc(v.OwnerId)+' '+esc(v.AccountName)+' · '+esc(v.Region)+' · '+
          (sub.length ? esc(sub[0].id)+' '+esc(sub[0].cidr)+' '+esc(sub[0].az) : 'in no subnet'));
      });
      cell.reserved.concat(cell.reservations).forEach(function(r){
        var cidr = /([0-9.]+\/[0-9]+)/.exec(r);
        if (cidr && inCidr(n, cidr[1]) && !seen[r]) { seen[r] = 1; lines.push(esc(r)); }
      });
    });
    lookupOut.innerHTML = lines.length ? lines.join('<br>') : 'free: no VPC, reserved range or reservation holds it';
  }
  if (lookupBox) { lookupBox.addEventListener('input', lookup); if (lookupBox.value) lookup(); }
  document.querySelectorAll('rect.cell').forEach(function(r){
    r.addEventListener('mouseenter', function(){show(r);});
    r.addEventListener('click', function(){show(r);});
    r.addEventListener('focus', function(){show(r);});
  });
  function table(holderId, head, rows){
    var el = document.getElementById(holderId);
    if (el) el.innerHTML = '<table><thead><tr>' + head.map(function(h){ return '<th>' + esc(h) + '</th>'; }).join('') +
      '</tr></thead><tbody>' + rows.join('') + '</tbody></table>';
  }
  // Overlap groups, most severe first; a group's first row is its anchor (`#group-<span>`:
  // notifications link it).
  // flat(): `concat.apply` passes every group as an argument, past the engine's limit at scale.
  function flat(lists){ var out = []; lists.forEach(function(l){ for (var i = 0; i < l.length; i++) out.push(l[i]); }); return out; }
  table('groups', ['severity', 'group', 'span', 'block', 'member', 'VPC name'], flat(data.groups.map(function(g, k){
    var sev = g[0], span = g[1], out = [];
    g[2].forEach(function(m, j){
      var who, name = '';
      if (m[0] === null) who = 'reserved: ' + m[2];
      else { var v = vpc(m[0]); who = v.VpcId + ' · ' + v.OwnerId + ' ' + v.AccountName + ' · ' + v.Region; name = v.Name; }
      var search = (sev + ' ' + span + ' ' + m[1] + ' ' + who + ' ' + name).toLowerCase();
      out.push('<tr class="' + esc(sev) + '"' + (j ? '' : ' id="group-' + esc(span) + '"') + ' data-search="' + esc(search) + '">' +
        '<td class="sev">' + esc(sev) + '</td><td class="clashmark">#' + (k + 1) + '</td><td>' + esc(span) + '</td><td><code>' + esc(m[1]) +
        '</code></td><td>' + esc(who) + '</td><td>' + esc(name) + '</td></tr>');
    });
    g[3].forEach(function(line){
      out.push('<tr class="conflict via" data-search="' + esc(line.toLowerCase()) + '"><td></td><td></td><td colspan="4">' + esc(line) + '</td></tr>');
    });
    return out;
  })));
  // Accounts: each with its map fill, VPC count, regions, blocks and default VPCs left.
  var byAccount = {}, owners = [];
  V.VpcId.forEach(function(_, i){
    var owner = data.accounts[V.Account[i]][0];
    if (!byAccount[owner]) { byAccount[owner] = []; owners.push(owner); }
    byAccount[owner].push(i);
  });
  function uniqueSorted(list){ var seen = {}; return list.filter(function(x){ return seen[x] ? false : (seen[x] = 1); }).sort(); }
  table('accounts-table', ['account', 'name', 'VPCs', 'regions', 'CIDRs', 'default VPCs left'], owners.sort().map(function(owner){
    var rows = byAccount[owner], first = data.accounts[V.Account[rows[0]]];
    var regions = uniqueSorted(rows.map(function(i){ return data.regions[V.Region[i]]; }));
    var cidrs = uniqueSorted(flat(rows.map(function(i){ return V.CidrBlocks[i].concat(V.Ipv6CidrBlocks[i]); })));
    var defaults = rows.filter(function(i){ return V.IsDefault[i] === 1; }).length;
    var search = [owner, first[1]].concat(regions, cidrs, rows.map(function(i){ return V.VpcId[i]; }),
      rows.map(function(i){ return V.Name[i] || ''; })).join(' ').toLowerCase();
    return '<tr data-search="' + esc(search) + '"><td class="acct"><svg class="sw" width="16" height="16" viewBox="0 0 22 22" aria-hidden="true">' +
      '<rect width="22" height="22" fill="' + esc(first[2]) + '"/></svg>' + esc(owner) + '</td><td>' + esc(first[1]) + '</td><td>' + rows.length +
      '</td><td>' + esc(regions.join(', ')) + '</td><td><code>' + esc(cidrs.join(', ')) + '</code></td><td>' + (defaults || '') + '</td></tr>';
  }));
  // IPv6 blocks by the /48 they fall in.
  table('ipv6-table', ['/48', 'block', 'VPC', 'account', 'region', 'VPC name'], flat(data.ipv6.map(function(p){
    return p[1].map(function(b){
      var v = vpc(b[1]);
      var search = (p[0] + ' ' + b[0] + ' ' + v.VpcId + ' ' + v.OwnerId + ' ' + v.AccountName + ' ' + v.Name).toLowerCase();
      return '<tr data-search="' + esc(search) + '"><td><code>' + esc(p[0]) + '</code></td><td><code>' + esc(b[0]) + '</code></td><td>' +
        esc(v.VpcId) + '</td><td>' + esc(v.OwnerId) + ' ' + esc(v.AccountName) + '</td><td>' + esc(v.Region) + '</td><td>' + esc(v.Name) + '</td></tr>';
    });
  })));
  // The inventory's rows, in its columns (the rows of `vpctracker inventory`).
  var inv = {columns: data.columns, rows: V.VpcId.map(function(_, i){
    var a = data.accounts[V.Account[i]], zones = {};
    V.Subnets[i].forEach(function(s){ zones[s[2]] = 1; });
    var r = {VpcId: V.VpcId[i], OwnerId: a[0], AccountName: a[1], Region: data.regions[V.Region[i]], Name: V.Name[i],
      CidrBlocks: V.CidrBlocks[i], Ipv6CidrBlocks: V.Ipv6CidrBlocks[i], IsDefault: V.IsDefault[i] === 1, State: data.states[V.State[i]],
      Subnets: V.Subnets[i].length, AvailabilityZones: Object.keys(zones).length, UsedPct: V.UsedPct[i],
      FirstSeen: data.times[V.FirstSeen[i]], LastSeen: data.times[V.LastSeen[i]], Stale: data.reasons[V.Stale[i]]};
    return data.columns.map(function(c){ return r[c]; });
  })};
  // Inventory: every live VPC (the rows of `vpctracker inventory`), sortable, filterable,
  // grouped by region on demand, downloadable as CSV. Rows are drawn from the data, at most
  // LIMIT at a time: a 100,000-VPC page must stay usable (filter, or download the CSV).
  var LIMIT = 2000;
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
  document.documentElement.setAttribute('data-ready', '1');
  }
})();
