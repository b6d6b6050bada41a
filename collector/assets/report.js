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
        '</td><td>'+esc(v.Region)+'</td><td>'+esc(v.Name)+'</td><td>'+esc(v.Cidr)+'</td></tr>';}).join('') + '</table>';
    detail.innerHTML = h;
  }
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
