{#- Fail early, with the name, when a derived identifier would be truncated by the
    database (PostgreSQL silently cuts identifiers at 63 bytes). -#}
{% macro _check_identifier_length(relation, max_length) -%}
  {%- if relation.identifier | length > max_length -%}
    {%- do exceptions.raise_compiler_error(
        "Sutura: the identifier '" ~ relation.identifier ~ "' is longer than " ~ max_length
        ~ " characters; give the model a shorter alias.") -%}
  {%- endif -%}
  {{ return(relation) }}
{%- endmacro %}
