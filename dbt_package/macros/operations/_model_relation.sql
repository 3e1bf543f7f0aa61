{#- The published relation of a model graph node. -#}
{% macro _model_relation(node) -%}
  {{ return(api.Relation.create(database=node.database, schema=node.schema,
                                identifier=node.alias, type='table')) }}
{%- endmacro %}
