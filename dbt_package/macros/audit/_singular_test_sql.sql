{#- The SQL of a singular test (a file in tests/) with the audited model read from the
    relation under audit (see `_audit_ref`). -#}
{% macro _singular_test_sql(test_node) -%}
  {{ return(render(sutura._redirect_refs(test_node.raw_code))) }}
{%- endmacro %}
