{#- Rewrite `ref(` / `source(` calls in test Jinja to Sutura's resolvers, which point the
    audited model at the relation under audit and every other name at its published
    relation (dbt's runtime `ref` would refuse names the model does not depend on). -#}
{% macro _redirect_refs(code) -%}
  {%- set code = modules.re.sub('(?<![\\w.])ref\\s*\\(', 'sutura._audit_ref(', code) -%}
  {%- set code = modules.re.sub('(?<![\\w.])source\\s*\\(', 'sutura._audit_source(', code) -%}
  {{ return(code) }}
{%- endmacro %}
