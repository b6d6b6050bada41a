(function(){
  var data = JSON.parse(document.getElementById('report-data').textContent);
  var detail = document.getElementById('detail');
  function esc(s){return String(s).replace(/[&<>"]/g,function(c){return {'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;'}[c];});}
  function show(el){
    var cell = data.cells[el.getAttribute('data-key')] || {vpcs:[],reserved:[],reservations:[]};
    document.querySelectorAll('rect.selected').forEach(function(r){r.classList.remove('selected');});
    el.classList.add('selected');
    var h = '<b>' + esc(el.getAttribute('data-cidr')) + '</b>';
    if (el.classList.contains('clash')) h += ' <span class="clashmark">&#9888; overlap</span>';
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
