{#- The model holds exactly the rows of `compare_model` (as multisets, same column order). -#}
{% test sutura_it_equal_rows(model, compare_model) %}
(select * from {{ model }} except all select * from {{ compare_model }})
union all
(select * from {{ compare_model }} except all select * from {{ model }})
{% endtest %}
